import { reactive } from 'vue'
import { api, type Me, type Role, type Settings } from './api'

const rank: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 }

export const session = reactive({
  me: null as Me | null,
  org: '',
  loaded: false,
})

export function can(role: Role): boolean {
  const r = session.me?.user.role
  return !!r && rank[r] >= rank[role]
}

/** Loads who is signed in; null when nobody is. */
export async function loadSession(): Promise<Me | null> {
  try {
    session.me = await api<Me>('GET', '/auth/me', undefined, { quiet: true })
  } catch {
    session.me = null
  }
  session.loaded = true
  if (session.me && !session.me.user.must_change_password) void loadOrg()
  return session.me
}

export async function loadOrg() {
  try {
    session.org = (await api<Settings>('GET', '/settings', undefined, { quiet: true })).organization_name
  } catch {
    /* not important */
  }
}

export function clearSession() {
  session.me = null
  session.org = ''
}
