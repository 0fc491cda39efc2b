import { createApp } from 'vue'
import App from './App.vue'
import { router } from './router'
import { onAuthProblem } from './api'
import { clearSession, session } from './session'
import './style.css'

onAuthProblem({
  unauthenticated: () => {
    clearSession()
    const here = router.currentRoute.value
    if (here.name !== 'login') void router.push({ name: 'login', query: here.fullPath !== '/' ? { next: here.fullPath } : {} })
  },
  passwordChange: () => {
    if (session.me) session.me.user.must_change_password = true
    void router.push({ name: 'change-password' })
  },
})

createApp(App).use(router).mount('#app')
