import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Frame memory's debug mode (src/buffers): a frame used after its release fails loudly.
    env: { NUSOMI_DEBUG_BUFFERS: '1' },
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // 2 cores: more forks only thrash; emulator-backed tests share servers started once.
    pool: 'forks',
    maxWorkers: 2,
  },
});
