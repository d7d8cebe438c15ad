import * as vega from 'vega';

/**
 * Advance widths of printable ASCII (0x20..0x7e) in 1/1000 em, close to DejaVu Sans, the font most
 * Linux browsers (and Debian's chromium) use for `sans-serif`. Narrower fonts (Helvetica, Arial) only
 * leave a little slack, while a narrower table would let long labels overflow where the font is wider.
 */
const ASCII_WIDTHS = [
  318,
  400,
  460,
  838,
  636,
  950,
  780,
  275,
  390,
  390,
  500,
  838,
  318,
  361,
  318,
  337, // space ! " # $ % & ' ( ) * + , - . /
  636,
  636,
  636,
  636,
  636,
  636,
  636,
  636,
  636,
  636,
  337,
  337,
  838,
  838,
  838,
  531, // 0-9 : ; < = > ?
  1000,
  684,
  686,
  698,
  770,
  632,
  575,
  775,
  752,
  295,
  295,
  656,
  557,
  863,
  748,
  787, // @ A-O
  603,
  787,
  695,
  635,
  611,
  732,
  684,
  989,
  685,
  611,
  685,
  390,
  337,
  390,
  838,
  500, // P-Z [ \ ] ^ _
  500,
  613,
  635,
  550,
  635,
  615,
  352,
  635,
  634,
  278,
  278,
  579,
  278,
  974,
  634,
  612, // ` a-o
  635,
  635,
  411,
  521,
  392,
  634,
  592,
  818,
  592,
  592,
  525,
  636,
  337,
  636,
  838, // p-z { | } ~
];
const OTHER_WIDTH = 1000; // ×, –, … and the like: assume a full em rather than overflow
const BOLD_FACTOR = 1.1;

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
}

interface TextMetrics {
  width: (item: TextItem, text?: unknown) => number;
  estimateWidth: (item: TextItem, text?: unknown) => number;
}

/** Width in px of `text` at `fontSize`, by the table above. */
export function estimateTextWidth(text: string, fontSize: number, bold = false): number {
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    units += code >= 0x20 && code <= 0x7e ? ASCII_WIDTHS[code - 0x20]! : OTHER_WIDTH;
  }
  return (units / 1000) * fontSize * (bold ? BOLD_FACTOR : 1);
}

/**
 * Without a canvas (always, in Node, as this package does not depend on one) vega estimates every
 * character at 0.8 em, which truncates axis labels at about half their allowed width and reserves
 * space for text that is not there. This swaps in a per-character estimate. It changes vega's shared
 * text metrics for the process, so it only does so when vega is on its canvas-less estimate.
 */
export function useCharacterWidthTextMetrics(): void {
  const metrics = (vega as unknown as { textMetrics: TextMetrics }).textMetrics;
  if (metrics.width !== metrics.estimateWidth) return;
  metrics.width = (item, text) => {
    const value = text === undefined || text === null ? '' : String(text).trim();
    const size = typeof item.fontSize === 'number' ? item.fontSize : 11;
    const bold =
      item.fontWeight === 'bold' || (typeof item.fontWeight === 'number' && item.fontWeight >= 600);
    return estimateTextWidth(value, size, bold);
  };
}
