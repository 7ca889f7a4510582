import { defineConfig } from "vitest/config";

// Two projects: unit tests live beside the code; integration and end-to-end scenarios live in
// tests/ and talk to real services (kube-apiserver + etcd, libvirtd, dockerd, vcsim).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "controllers/**/*.test.ts", "drivers/**/*.test.ts", "scripts/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/**/*.test.ts"],
          environment: "node",
          globalSetup: ["tests/harness/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // 2 cores: a few files at a time, each with its own real services where it needs them.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});
