import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { OFFLOAD_FOLDER_PREFIX, SEGMENT_MAX_BYTES } from './constants.js';
import { OffloadCorruptError, OffloadIoError } from './errors.js';

interface Segment {
  fd: number;
  path: string;
  /** Bytes written (the file size). */
  size: number;
  /** Bytes of live records. */
  live: number;
}

// Every folder still open, removed if the process exits without close().
const openTiers = new Set<DiskTier>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const tier of openTiers) tier.close();
  });
}

/**
 * Flash offload: append-only segment files in a private folder. A record is written once and read
 * back at its offset; records that die are reclaimed by copying the live ones of a mostly dead
 * segment to the head segment and deleting the old file. Every I/O error is an `OffloadIoError`; a
 * failed append is truncated away so a segment never holds half a record.
 */
export class DiskTier {
  readonly segments: Array<Segment | null> = [];
  head = -1;
  /** Bytes in segment files. */
  bytes = 0;
  /** Bytes of live records in segment files. */
  liveBytes = 0;
  private closed = false;

  private constructor(
    readonly folder: string,
    private readonly beforeWrite: () => void,
  ) {}

  /** Creates the private folder inside `parent`. */
  static create(parent: string, beforeWrite: () => void = () => {}): DiskTier {
    let folder: string;
    try {
      folder = mkdtempSync(join(parent, OFFLOAD_FOLDER_PREFIX));
    } catch (err) {
      throw new OffloadIoError('mkdtemp', parent, err);
    }
    const tier = new DiskTier(folder, beforeWrite);
    openTiers.add(tier);
    installExitHook();
    return tier;
  }

  /** Whether dead bytes on disk are worth a compaction. */
  shouldCompact(minDeadBytes: number): boolean {
    const dead = this.bytes - this.liveBytes;
    return dead > minDeadBytes && dead > this.liveBytes;
  }

  /**
   * Appends `data` (whole live records, `data.length` bytes) to the head segment, starting a new
   * segment when the head is full. Returns where it landed. Throws `OffloadIoError`.
   */
  append(data: Uint8Array): { segment: number; offset: number } {
    let seg = this.head >= 0 ? this.segments[this.head]! : null;
    if (seg === null || (seg.size > 0 && seg.size + data.length > SEGMENT_MAX_BYTES)) {
      seg = this.openSegment();
    }
    const at = seg.size;
    let written = 0;
    try {
      this.beforeWrite();
      while (written < data.length) {
        const n = writeSync(seg.fd, data, written, data.length - written, at + written);
        if (n <= 0) throw Object.assign(new Error('short write'), { code: 'ESHORTWRITE' });
        written += n;
      }
    } catch (err) {
      try {
        ftruncateSync(seg.fd, at);
      } catch {
        // The size we keep is `at` either way: bytes past it are never read.
      }
      throw new OffloadIoError('write', seg.path, err);
    }
    seg.size += data.length;
    seg.live += data.length;
    this.bytes += data.length;
    this.liveBytes += data.length;
    return { segment: this.head, offset: at };
  }

  /** Reads `length` bytes at `offset` of a segment into `into`. Throws `OffloadIoError`. */
  read(segment: number, offset: number, length: number, into: Uint8Array): void {
    const seg = this.segments[segment];
    if (!seg) throw new OffloadCorruptError(`segment ${segment}`, offset, 'segment does not exist');
    let done = 0;
    try {
      while (done < length) {
        const n = readSync(seg.fd, into, done, length - done, offset + done);
        if (n === 0) throw new OffloadCorruptError(seg.path, offset, `file ends before ${length} bytes`);
        done += n;
      }
    } catch (err) {
      if (err instanceof OffloadCorruptError) throw err;
      throw new OffloadIoError('read', seg.path, err);
    }
  }

  pathOf(segment: number): string {
    return this.segments[segment]?.path ?? `segment ${segment}`;
  }

  sizeOf(segment: number): number {
    return this.segments[segment]?.size ?? 0;
  }

  liveOf(segment: number): number {
    return this.segments[segment]?.live ?? 0;
  }

  /** A record of `bytes` died; an emptied segment other than the head is deleted. */
  markDead(segment: number, bytes: number): void {
    const seg = this.segments[segment];
    if (!seg) return;
    seg.live -= bytes;
    this.liveBytes -= bytes;
    if (seg.live === 0 && segment !== this.head) this.dropSegment(segment);
  }

  /** Stops appending to the head segment (so that it can be compacted like the others). */
  sealHead(): void {
    const head = this.head;
    if (head < 0) return;
    this.head = -1;
    if (this.segments[head]?.live === 0) this.dropSegment(head);
  }

  /** Segments other than the head, with their dead bytes. */
  deadSegments(): Array<{ segment: number; dead: number; size: number }> {
    const out: Array<{ segment: number; dead: number; size: number }> = [];
    this.segments.forEach((seg, segment) => {
      if (seg && segment !== this.head && seg.size > seg.live) {
        out.push({ segment, dead: seg.size - seg.live, size: seg.size });
      }
    });
    return out;
  }

  /** Closes every file and removes the folder. Idempotent; never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    openTiers.delete(this);
    for (const seg of this.segments) {
      if (!seg) continue;
      try {
        closeSync(seg.fd);
      } catch {
        // Already closed or never opened: nothing to release.
      }
    }
    this.segments.length = 0;
    try {
      rmSync(this.folder, { recursive: true, force: true });
    } catch {
      // Removal is best effort here; the folder is private and named for the store.
    }
  }

  private openSegment(): Segment {
    const previous = this.head;
    const id = this.segments.length;
    const path = join(this.folder, `segment-${String(id).padStart(6, '0')}.mcs`);
    let fd: number;
    try {
      fd = openSync(path, 'wx+');
    } catch (err) {
      throw new OffloadIoError('open', path, err);
    }
    const seg: Segment = { fd, path, size: 0, live: 0 };
    this.segments[id] = seg;
    this.head = id;
    if (previous >= 0 && this.segments[previous]?.live === 0) this.dropSegment(previous);
    return seg;
  }

  private dropSegment(segment: number): void {
    const seg = this.segments[segment];
    if (!seg) return;
    this.segments[segment] = null;
    this.bytes -= seg.size;
    this.liveBytes -= seg.live;
    try {
      closeSync(seg.fd);
      unlinkSync(seg.path);
    } catch {
      // The folder goes on close(); a file that cannot be unlinked now only costs disk until then.
    }
  }
}
