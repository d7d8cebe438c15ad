import { InvalidArgumentError } from '../errors.js';

/** Where a frame goes in the ring, and the ring position after it. */
export interface Placement {
  /** Byte offset of the frame inside the ring region. */
  offset: number;
  /** Ring position (counting from the start, never wrapping) once the frame is written. */
  mark: number;
}

/**
 * Where the next frame of `bytes` goes after ring position `mark`. Frames are contiguous: one that
 * does not fit before the end of the ring starts at offset 0, and the tail it skipped counts as
 * used. Both sides compute this, so the secondary can check every placement the primary announces.
 */
export function nextPlacement(mark: number, bytes: number, ringBytes: number): Placement {
  const at = mark % ringBytes;
  if (at + bytes <= ringBytes) return { offset: at, mark: mark + bytes };
  return { offset: 0, mark: mark + (ringBytes - at) + bytes };
}

/**
 * The primary's view of the secondary's receive ring: space is reserved frame by frame, in order,
 * and handed back when the secondary says it consumed everything up to a mark. The secondary reads
 * frames in place, so a region is never written again before it is released.
 */
export class RingSpace {
  readonly ringBytes: number;
  #head = 0;
  #tail = 0;

  constructor(ringBytes: number) {
    if (!Number.isSafeInteger(ringBytes) || ringBytes <= 0)
      throw new InvalidArgumentError(`ring size ${ringBytes} is not a positive integer`);
    this.ringBytes = ringBytes;
  }

  /** Bytes reserved and not yet released (skipped tails included). */
  get usedBytes(): number {
    return this.#head - this.#tail;
  }

  /**
   * Reserves room for a frame of `bytes`; null when the ring is too full right now.
   * @throws InvalidArgumentError for a frame that could never fit
   */
  reserve(bytes: number): Placement | null {
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > this.ringBytes)
      throw new InvalidArgumentError(`a frame of ${bytes} bytes cannot fit a ring of ${this.ringBytes}`);
    const placement = nextPlacement(this.#head, bytes, this.ringBytes);
    if (this.#tail === this.#head) {
      // Nothing is in use: the tail skipped to reach offset 0 holds nothing either.
      this.#tail = placement.mark - bytes;
    } else if (placement.mark - this.#tail > this.ringBytes) return null;
    this.#head = placement.mark;
    return placement;
  }

  /**
   * Frees everything up to `mark`, which must lie after what was released before and not beyond
   * what was reserved.
   * @throws InvalidArgumentError for a mark out of that range (a confused or lying peer)
   */
  release(mark: number): void {
    if (!Number.isSafeInteger(mark) || mark <= this.#tail || mark > this.#head)
      throw new InvalidArgumentError(
        `release to ${mark} outside the reserved range (${this.#tail}, ${this.#head}]`,
      );
    this.#tail = mark;
  }
}
