#!/usr/bin/env node
// The package's bin: runs the compiled CLI (`npm install` builds dist/ through the `prepare` script).
import '../dist/cli/main.js';
