import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// The build lands inside the server package, which serves it at `/` (see server/src/neon_server/ui).
// `npm run dev` proxies the API to a running `neon up` (NEON_URL, default http://127.0.0.1:3000).
const api = process.env.NEON_URL ?? 'http://127.0.0.1:3000'

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../server/src/neon_server/ui/dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/api': api, '/v1': api },
  },
})
