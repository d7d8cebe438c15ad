/** A chart as the report shows it: rendered, or a labelled placeholder saying why it is not there. */
export type ChartPanel =
  | { status: 'rendered'; id: string; title: string; suite: string; svg: string }
  | { status: 'missing'; id: string; title: string; suite: string; reason: string };
