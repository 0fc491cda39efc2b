import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The console is served under a strict Content-Security-Policy (no inline
// scripts or styles), so the build must emit only external files, and the
// output must be byte-for-byte reproducible because web/dist is committed.
export default defineConfig({
  plugins: [vue()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/api': { target: 'http://localhost:8080', changeOrigin: false } },
  },
})
