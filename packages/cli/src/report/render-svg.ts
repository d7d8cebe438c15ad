import { logger, parse, Error as VEGA_LOG_ERROR, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ChartRenderError } from './errors.js';
import { useCharacterWidthTextMetrics } from './text-metrics.js';

/**
 * Renders a vega-lite spec to a standalone SVG string in Node: compile to vega, run a headless view
 * (`renderer: 'none'`, no DOM or canvas) and serialise its scenegraph. No browser, no network.
 *
 * Element ids in the SVG (clip paths, gradients) are prefixed with `chartId`, because the report inlines
 * every chart into one document, where two charts' `clip1` would otherwise collide.
 *
 * @throws {@link ChartRenderError} when compiling or rendering fails
 */
export async function renderChartSvg(chartId: string, spec: TopLevelSpec): Promise<string> {
  // Warnings (e.g. a log scale dropping a zero) are not failures; errors still throw from vega.
  const quiet = logger(VEGA_LOG_ERROR);
  useCharacterWidthTextMetrics();
  let view: View | undefined;
  try {
    const compiled = compile(spec, { logger: quiet }).spec;
    view = new View(parse(compiled), { renderer: 'none', logger: quiet });
    const svg = await view.toSVG();
    if (!svg.startsWith('<svg')) throw new Error('vega produced no <svg> element');
    return prefixIds(svg, chartId);
  } catch (error) {
    throw new ChartRenderError(chartId, error);
  } finally {
    view?.finalize();
  }
}

function prefixIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${prefix}-${id}"`);
}
