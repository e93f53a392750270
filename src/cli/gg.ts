#!/usr/bin/env node
/** The `gg` program (what the bundle dist/bin/gg.js is made from: scripts/bundle.mjs). */
import { main } from './main.js';

void main(process.argv);
