import { gzipSync } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

const outDir = "../src/querydeck/web";

/** Writes a .gz twin of each compressible asset, which the server sends to clients that
 * accept gzip: compressed once at build time, not at every request. */
function gzipTwins(): Plugin {
  return {
    name: "querydeck-gzip-twins",
    apply: "build",
    closeBundle() {
      const assets = join(outDir, "assets");
      for (const name of readdirSync(assets)) {
        if (!/\.(js|css|svg|json|map)$/.test(name)) continue;
        const path = join(assets, name);
        const data = readFileSync(path);
        if (statSync(path).size < 1024) continue;
        const packed = gzipSync(data, { level: 9 });
        if (packed.length < data.length) writeFileSync(`${path}.gz`, packed);
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), gzipTwins()],
  base: "/",
  build: {
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8765" },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts"],
  },
});
