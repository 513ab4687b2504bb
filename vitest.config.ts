import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '_build/**', 'bench/work/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
