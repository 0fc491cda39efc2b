import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'
import { session, loadSession, can } from './session'
import type { Role } from './api'

declare module 'vue-router' {
  interface RouteMeta { public?: boolean; role?: Role; title?: string; bare?: boolean }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true, bare: true, title: 'Sign in' } },
    { path: '/change-password', name: 'change-password', component: () => import('./pages/ChangePasswordPage.vue'), meta: { title: 'Change password' } },
    { path: '/', name: 'dashboard', component: () => import('./pages/DashboardPage.vue'), meta: { role: 'viewer', title: 'Dashboard' } },
    { path: '/alerts', name: 'alerts', component: () => import('./pages/AlertsPage.vue'), meta: { role: 'viewer', title: 'Alerts' } },
    { path: '/access/users', name: 'users', component: () => import('./pages/UsersPage.vue'), meta: { role: 'admin', title: 'Users' } },
    { path: '/access/tokens', name: 'tokens', component: () => import('./pages/TokensPage.vue'), meta: { role: 'viewer', title: 'API tokens' } },
    { path: '/policies', name: 'policies', component: () => import('./pages/PoliciesPage.vue'), meta: { role: 'viewer', title: 'Policies' } },
    { path: '/proxies', name: 'proxies', component: () => import('./pages/ProxiesPage.vue'), meta: { role: 'viewer', title: 'Proxies' } },
    { path: '/proxies/:name/tools', name: 'mcp-tools', component: () => import('./pages/MCPToolsPage.vue'), meta: { role: 'viewer', title: 'MCP tools' } },
    { path: '/proxies/:name', name: 'proxy', component: () => import('./pages/ProxyDetailPage.vue'), meta: { role: 'viewer', title: 'Proxy' } },
    { path: '/groups', name: 'groups', component: () => import('./pages/GroupsPage.vue'), meta: { role: 'viewer', title: 'Groups & keys' } },
    { path: '/budgets', name: 'budgets', component: () => import('./pages/BudgetsPage.vue'), meta: { role: 'viewer', title: 'Budgets' } },
    { path: '/system-prompts', name: 'system-prompts', component: () => import('./pages/SystemPromptsPage.vue'), meta: { role: 'viewer', title: 'System prompts' } },
    { path: '/usage', name: 'usage', component: () => import('./pages/UsagePage.vue'), meta: { role: 'viewer', title: 'Usage' } },
    { path: '/audit', name: 'audit', component: () => import('./pages/AuditPage.vue'), meta: { role: 'viewer', title: 'Audit log' } },
    { path: '/settings/integrations', name: 'integrations', component: () => import('./pages/IntegrationsPage.vue'), meta: { role: 'viewer', title: 'Integrations' } },
    { path: '/settings', name: 'settings', component: () => import('./pages/SettingsPage.vue'), meta: { role: 'viewer', title: 'Settings' } },
    { path: '/about', name: 'about', component: () => import('./pages/AboutPage.vue'), meta: { role: 'viewer', title: 'About' } },
    { path: '/forbidden', name: 'forbidden', component: () => import('./pages/ForbiddenPage.vue'), meta: { title: 'Not allowed' } },
    { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: 'Not found' } },
  ],
})

router.beforeEach(async (to: RouteLocationNormalized) => {
  if (!session.loaded) await loadSession()
  const me = session.me
  if (to.meta.public) {
    return me ? { path: '/' } : true
  }
  if (!me) {
    return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
  }
  if (me.user.must_change_password && to.name !== 'change-password') {
    return { name: 'change-password' }
  }
  if (to.meta.role && !can(to.meta.role)) {
    return { name: 'forbidden', query: { from: to.fullPath } }
  }
  return true
})

router.afterEach((to) => {
  const title = to.name === 'proxy' ? String(to.params.name) : to.name === 'mcp-tools' ? 'Tools of ' + String(to.params.name) : to.meta.title
  document.title = (title ? title + ' · ' : '') + 'Bulwark'
})
