import { AXIS_ROOM, fitSpec, LEGEND_ROOM, MIN_PLOT_WIDTH } from '../chart-fit';

const title = { text: 'Relevance', subtitle: 'a long subtitle' };

describe('charts fitted to the width of their panel', () => {
  it('a single or layered chart takes the width, axes included, and its title ends in …', () => {
    const spec = { title, width: 360, height: 220, layer: [{ mark: 'line' }] };
    expect(fitSpec(spec, 250)).toEqual({
      ...spec,
      title: { ...title, limit: 250 },
      width: 250,
      autosize: { type: 'fit-x', contains: 'padding' }
    });
    expect(spec.width).toBe(360); // a new spec
  });

  it('a facet grid shares the width among its columns', () => {
    const values = ['language', 'domain', 'task'].map(dimension => ({
      dimension
    }));
    const spec = {
      data: { values },
      facet: { column: { field: 'dimension' }, row: { field: 'kind' } },
      spec: { width: 180, height: 120, layer: [] }
    };
    const narrow = fitSpec(spec, 600) as typeof spec;
    expect(narrow.spec.width).toBe(Math.floor(600 / 3) - AXIS_ROOM);
    // a side bar: three columns would be unreadable, so the grid turns, a row per dimension
    const side = fitSpec(spec, 250) as typeof spec;
    expect(side.facet).toEqual({
      column: { field: 'kind' },
      row: { field: 'dimension' }
    });
    expect(side.spec.width).toBe(250 - AXIS_ROOM);
    // a wide tab: the columns share all of it, wider than the chart asked for
    expect((fitSpec(spec, 2000) as typeof spec).spec.width).toBe(
      Math.floor(2000 / 3) - AXIS_ROOM
    );
  });

  it('a 3×2 grid too narrow for three columns turns into 2×3, never narrower than a plot', () => {
    const values = ['language', 'domain', 'task'].flatMap(dimension =>
      ['ffn', 'attention'].map(kind => ({ dimension, kind }))
    );
    const spec = {
      data: { values },
      facet: { column: { field: 'dimension' }, row: { field: 'kind' } },
      spec: { width: 180, height: 120, layer: [] }
    };
    const turned = fitSpec(spec, 300) as typeof spec;
    expect(turned.facet.column.field).toBe('kind');
    expect(turned.spec.width).toBe(Math.floor(300 / 2) - AXIS_ROOM);
    expect((fitSpec(spec, 100) as typeof spec).spec.width).toBe(MIN_PLOT_WIDTH);
    expect((fitSpec(spec, 600) as typeof spec).facet.column.field).toBe(
      'dimension'
    );
  });

  it('concatenated panels go one under the other when they do not fit side by side', () => {
    const panel = (n: number) => ({
      title: `p${n}`,
      width: 260,
      layer: [{ mark: 'line', encoding: { color: { field: 'method' } } }]
    });
    const spec = { concat: [panel(1), panel(2)], columns: 2 };
    const fitted = fitSpec(spec, 250) as {
      concat: { width: number }[];
      columns: number;
    };
    expect(fitted.columns).toBe(1);
    expect(fitted.concat[0].width).toBeLessThanOrEqual(250 - AXIS_ROOM);
    const wide = fitSpec(spec, 2000) as typeof spec;
    expect(wide.columns).toBe(2);
    // the two panels of the row share the width
    expect(wide.concat[0].width).toBe(
      Math.floor((2000 - LEGEND_ROOM) / 2) - AXIS_ROOM
    );
  });

  it('leaves a spec alone while the width is unknown', () => {
    const spec = { width: 360, mark: 'bar' };
    expect(fitSpec(spec, 0)).toBe(spec);
    expect(fitSpec(null, 250)).toBeNull();
  });
});
