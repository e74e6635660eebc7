import { defineConfig } from 'vitest/config';

// Two tiers. `npm run test:fast` runs project "fast": files named *.fast.test.ts, in-process only
// (no CLI, Python or emulator process; its setup file makes starting one throw). `npm test` runs both.
const FAST = 'test/**/*.fast.test.ts';

export default defineConfig({
  test: {
    // 2 cores: more forks only thrash; emulator-backed tests share servers started once.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: [FAST],
          setupFiles: ['test/helpers/no-child-process.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'full',
          include: ['test/**/*.test.ts'],
          exclude: [FAST],
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
    // Frame memory's debug mode (src/buffers): a frame used after its release fails loudly.
    env: { NUSOMI_DEBUG_BUFFERS: '1' },
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
