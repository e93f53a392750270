/**
 * Video encoding as thunks, in the spirit of ExCamera: split a clip into chunks of frames, encode every
 * chunk in its own thunk (in parallel, one thread each), concatenate the encoded chunks. The graph is built
 * with the SDK: one split thunk, a fan-out of encode thunks over its outputs, a fan-in concat thunk.
 *
 *   node dist/examples/video/encode.js CLIP [CHUNKS] > video.name && gg force --jobs 2 $(cat video.name)
 *
 * The split re-encodes to FFV1 (lossless, every frame a key frame), so chunks start exactly at the frame
 * asked for whatever the source's key frames; the chunks are H.264 in MPEG-TS (codec parameters in band), so
 * the concat demuxer joins them without re-encoding. Video only: an audio track is dropped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../src/frontend/sdk.js';
import { findGgDir } from '../../src/store/gg-dir.js';
import { LocalStore } from '../../src/store/local-store.js';

export interface VideoOptions {
  /** Chunks to encode in parallel (fewer when the clip has fewer frames). */
  chunks: number;
  /** x264 preset for every chunk. */
  preset?: string;
  /** Path of ffmpeg on this host (default: found on PATH). */
  ffmpeg?: string;
}

/** Frames of the clip's first video stream, counted by decoding (exact, whatever the container says). */
export function countFrames(clip: string): number {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames',
      '-of',
      'csv=p=0',
      clip,
    ],
    { encoding: 'utf8' },
  );
  const n = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isInteger(n) || n <= 0)
    throw new Error(`ffprobe cannot count the frames of ${clip}: ${r.stderr.trim()}`);
  return n;
}

function which(cmd: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed`);
  return r.stdout.trim();
}

/** Write the graph for `clip` into the store; returns the name of the thunk whose output is the encoded clip. */
export function writeVideoGraph(store: LocalStore, clip: string, o: VideoOptions): string {
  const g = new GraphBuilder(store);
  const ffmpegPath = o.ffmpeg ?? which('ffmpeg');
  const tools = g.tools([ffmpegPath]);
  const ffmpeg = tools.names.get(ffmpegPath)!;
  const frames = countFrames(clip);
  const chunks = Math.max(1, Math.min(o.chunks, frames));
  const per = Math.ceil(frames / chunks);
  const bounds = Array.from({ length: chunks - 1 }, (_, i) => (i + 1) * per).filter((b) => b < frames);
  const names = Array.from({ length: bounds.length + 1 }, (_, i) => `chunk${i}.mkv`);
  const common = ['-nostdin', '-v', 'error', '-fflags', '+bitexact'];
  const base = { function: ffmpeg, executables: tools.inputs };

  const split = g.thunk({
    ...base,
    args: [
      'ffmpeg',
      ...common,
      '-i',
      'input',
      '-an',
      '-map',
      '0:v:0',
      '-c:v',
      'ffv1',
      '-threads',
      '1',
      ...(bounds.length
        ? ['-f', 'segment', '-segment_frames', bounds.join(','), '-reset_timestamps', '1', 'chunk%d.mkv']
        : ['chunk0.mkv']),
    ],
    values: [{ name: g.file(clip), filename: 'input' }],
    outputs: names,
  });
  const encoded = g.fanOut(names, (chunk, i) => ({
    ...base,
    args: [
      'ffmpeg',
      ...common,
      '-i',
      chunk,
      '-c:v',
      'libx264',
      '-preset',
      o.preset ?? 'medium',
      '-threads',
      '1',
      '-pix_fmt',
      'yuv420p',
      '-flags:v',
      '+bitexact',
      '-f',
      'mpegts',
      `enc${i}.ts`,
    ],
    thunks: [{ name: split.output(chunk), filename: chunk }],
    outputs: [`enc${i}.ts`],
  }));
  const list = encoded.map((_, i) => `file 'enc${i}.ts'\n`).join('');
  const concat = g.fanIn(
    encoded.map((e, i) => ({ ref: e.name, filename: `enc${i}.ts` })),
    {
      ...base,
      args: [
        'ffmpeg',
        ...common,
        '-f',
        'concat',
        '-safe',
        '0',
        '-i',
        'list.txt',
        '-c',
        'copy',
        '-movflags',
        '+faststart',
        'out.mp4',
      ],
      values: [{ name: g.value(list), filename: 'list.txt' }],
      outputs: ['out.mp4'],
    },
  );
  store.hashCache.flush();
  return concat.name;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const clip = process.argv[2];
  if (!clip) {
    process.stderr.write('usage: node dist/examples/video/encode.js CLIP [CHUNKS]\n');
    process.exit(2);
  }
  const store = new LocalStore(findGgDir());
  process.stdout.write(`${writeVideoGraph(store, path.resolve(clip), { chunks: Number(process.argv[3] ?? '4') })}\n`);
}
