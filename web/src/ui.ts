// Application-wide confirmation dialog and notifications.
import { reactive } from 'vue'

export interface ConfirmRequest {
  title: string
  message: string
  confirm: string
  danger?: boolean
  resolve: (ok: boolean) => void
}

export const ui = reactive({
  confirm: null as ConfirmRequest | null,
  toasts: [] as { id: number; text: string; kind: 'ok' | 'error' }[],
})

export function confirmAction(title: string, message: string, confirm = 'Confirm', danger = true): Promise<boolean> {
  return new Promise((resolve) => {
    ui.confirm = { title, message, confirm, danger, resolve }
  })
}

let seq = 0
export function toast(text: string, kind: 'ok' | 'error' = 'ok') {
  const id = ++seq
  ui.toasts.push({ id, text, kind })
  window.setTimeout(() => {
    const i = ui.toasts.findIndex((t) => t.id === id)
    if (i >= 0) ui.toasts.splice(i, 1)
  }, 5000)
}
