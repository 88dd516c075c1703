// Placeholder entry so the build config is valid; the CLI issue fills this in.
process.exitCode = 2;
