/**
 * The protocol module on its own: what the frontend may import from it, its request readers,
 * and its agreement with the engine and with its JSON Schema.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import {
  checkRunId,
  JOB_TYPES,
  RequestError,
  STUDY_DEFAULT_QS,
  studyQs
} from '../../core/protocol';
import {
  readChartsRequest,
  readJobRequest,
  readPlanQuery
} from '../../core/protocol/validate';

const PROTOCOL = path.resolve(__dirname, '../../core/protocol');

describe('the protocol module', () => {
  it('reads job requests, dropping nothing silently', () => {
    expect(
      readJobRequest({ type: 'plan', run: 'r1', sigma: 0.3, dims: ['task'] })
    ).toEqual({ type: 'plan', run: 'r1', sigma: 0.3, dims: ['task'] });
    const refused = (body: unknown) => {
      try {
        readJobRequest(body);
      } catch (error) {
        expect(error).toBeInstanceOf(RequestError);
        return (error as RequestError).message;
      }
      throw new Error('accepted');
    };
    expect(refused(null)).toMatch(/unknown job type undefined/);
    expect(refused({ type: 'score', run: 'r', model: 'm' })).toBe(
      'a score job: "corpus" is required'
    );
    expect(
      refused({ type: 'score', run: 'r', model: 'm', corpus: 'c', batch: 2 })
    ).toMatch(
      /unknown field "batch" \(known: type, run, model, corpus, batchSize/
    );
    expect(refused({ type: 'plan', run: 'r', sigma: 0.3, q: '1' })).toBe(
      'a plan job: "q" must be a number, got "1"'
    );
    expect(refused({ type: 'plan', run: 'r', sigma: '0.3' })).toBe(
      'a plan job: "sigma" must be a number, got "0.3"'
    );
    expect(
      refused({
        type: 'sweep',
        run: 'r',
        evalSets: ['e'],
        sigmas: [0.1],
        methods: ['best']
      })
    ).toMatch(/unknown method "best"/);
    const study = { type: 'study', run: 'r', evalSets: ['e'] };
    expect(
      readJobRequest({ ...study, targetRatios: [0.25], seedRuns: ['s1'] })
    ).toEqual({ ...study, targetRatios: [0.25], seedRuns: ['s1'] });
    expect(refused(study)).toBe(
      'a study job: "targetRatios" is required (a non-empty list)'
    );
    expect(refused({ ...study, targetRatios: [1] })).toBe(
      'a study job: every "targetRatios" value must lie strictly between 0 and 1, got 1'
    );
    expect(refused({ ...study, targetRatios: [0.2], qs: [1.5] })).toBe(
      'a study job: every "qs" value must lie in (0, 1], got 1.5'
    );
    expect(refused({ ...study, targetRatios: [0.2], qs: [] })).toBe(
      'a study job: "qs" must be a non-empty list of numbers, got []'
    );
    expect(studyQs(undefined, ['rank-mean'])).toEqual([]);
    expect(studyQs(undefined, [])).toEqual(STUDY_DEFAULT_QS);
    expect(studyQs([0.75], ['rank-mean'])).toEqual([0.75]);
    expect(
      refused({ ...study, targetRatios: [0.2], compensations: ['both'] })
    ).toBe(
      'a study job: unknown compensation "both"; compensations are none, bias, regression'
    );
    const ruled = {
      ...study,
      targetRatios: [0.2],
      rules: ['rank-mean'],
      allocations: ['sigma', 'sensitivity'],
      attentions: ['prune', 'keep']
    };
    expect(readJobRequest(ruled)).toEqual(ruled);
    expect(refused({ ...ruled, rules: ['paper'] })).toBe(
      `a study job: unknown rule "paper"; rules are pooled-intersect, rank-mean (the paper's rule and the q rule come from "qs")`
    );
    expect(refused({ ...ruled, allocations: ['greedy'] })).toBe(
      'a study job: unknown allocation "greedy"; allocations are sigma, sensitivity'
    );
    expect(refused({ ...ruled, attentions: ['drop'] })).toBe(
      'a study job: unknown attention "drop"; attentions are prune, keep'
    );
    expect(refused({ ...ruled, rules: 'rank-mean' })).toMatch(
      /^a study job: "rules" must be/
    );
    expect(
      refused({ ...study, targetRatios: [0.2], seedRuns: ['../other'] })
    ).toMatch(/not a plain folder name/);
    expect(refused({ type: 'plan', run: 'r', sigma: 0.3, rule: 'mean' })).toBe(
      'a plan job: "rule" must be one of paper, q, pooled-intersect, rank-mean, got "mean"'
    );
    expect(
      refused({ type: 'plan', run: 'r', sigma: 0.3, rule: 'rank-mean', q: 0.5 })
    ).toBe('a plan job: "q" applies only to "rule" q; drop it or use "rule" q');
    expect(
      readPlanQuery({ sigma: 0.2, rule: 'pooled-intersect', dims: ['task'] })
    ).toEqual({ sigma: 0.2, rule: 'pooled-intersect', dims: ['task'] });
    expect(() => readPlanQuery({ sigma: 0.2, targetRatio: 0.1 })).toThrow(
      'a σ query: give "sigma" or "targetRatio", not both'
    );
    expect(() => readChartsRequest({ source: 'sweep', sigma: 0.2 })).toThrow(
      /unknown field "sigma"/
    );
  });

  it.each([
    '..',
    '../x',
    '.hidden',
    'a/b',
    'a\\b',
    '',
    'x'.repeat(101),
    '/abs'
  ])('refuses the run id %j', id => {
    expect(() => checkRunId(id)).toThrow(/not a plain folder name/);
  });

  it("reads a job's Ray options, each mistake one line", () => {
    const score = { type: 'score', run: 'r', model: 'm', corpus: 'c' };
    const ray = { address: '10.0.0.5:6379', shards: 8, shipLimit: 0 };
    expect(readJobRequest({ ...score, ray })).toEqual({ ...score, ray });
    expect(readJobRequest({ ...score, ray: { address: 'auto' } })).toEqual({
      ...score,
      ray: { address: 'auto' }
    });
    const refusal = (body: object) => () => readJobRequest(body);
    expect(refusal({ ...score, ray: 'auto' })).toThrow(
      'a score job: "ray" must be a JSON object, got "auto"'
    );
    expect(refusal({ ...score, ray: { shards: 2 } })).toThrow(
      'a score job: "ray": "address" is required'
    );
    expect(refusal({ ...score, ray: { address: 'auto', shards: 0 } })).toThrow(
      'a score job: "ray": "shards" must be a whole number ≥ 1, got 0'
    );
    expect(
      refusal({ ...score, ray: { address: 'auto', shipLimit: -1 } })
    ).toThrow(
      'a score job: "ray": "shipLimit" must be a whole number ≥ 0, got -1'
    );
    expect(refusal({ ...score, ray: { address: 'auto', nodes: 2 } })).toThrow(
      /^a score job: "ray": unknown field "nodes" \(known: address, shards, shipLimit\)$/
    );
    const sweep = { type: 'sweep', run: 'r', evalSets: ['e'], sigmas: [0.5] };
    expect(readJobRequest({ ...sweep, ray })).toEqual({ ...sweep, ray });
    const ablate = {
      type: 'ablate',
      run: 'r',
      evalSets: ['e'],
      targetRatio: 0.2
    };
    expect(readJobRequest({ ...ablate, ray })).toEqual({ ...ablate, ray });
    expect(readJobRequest(ablate)).toEqual(ablate);
    const calibrated = { ...ablate, baselineRun: 'general-run' };
    expect(readJobRequest(calibrated)).toEqual(calibrated);
    expect(refusal({ ...ablate, baselineRun: '../up' })).toThrow(
      /^run id "\.\.\/up" is not a plain folder name/
    );
    expect(
      refusal({ ...ablate, ray: { address: 'auto', shards: 1.5 } })
    ).toThrow(
      'an ablate job: "ray": "shards" must be a whole number ≥ 1, got 1.5'
    );
    expect(refusal({ ...ablate, ray: { address: 7 } })).toThrow(
      /^an ablate job: "ray": "address" must be a non-empty string/
    );
  });

  it('has a JSON Schema that compiles, with a request definition per job type', () => {
    const schema = JSON.parse(
      fs.readFileSync(path.join(PROTOCOL, 'schema', 'v1.json'), 'utf8')
    );
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    ajv.addSchema(schema);
    const validate = ajv.getSchema(`${schema.$id}#/$defs/JobRequest`);
    const refs = schema.$defs.JobRequest.anyOf.map(
      (s: { $ref: string }) => s.$ref
    );
    for (const type of JOB_TYPES) {
      const name = `${type[0].toUpperCase()}${type.slice(1)}Request`;
      expect(refs).toContain(`#/$defs/${name}`);
    }
    expect(validate?.({ type: 'plan', run: 'r', sigma: 0.3 })).toBe(true);
    expect(validate?.({ type: 'plan', run: '../r', sigma: 0.3 })).toBe(false);
    expect(validate?.({ type: 'plan', run: 'r', sigma: 0.3, x: 1 })).toBe(
      false
    );
    // σ or a target ratio: exactly one, as the TypeScript type says.
    expect(validate?.({ type: 'plan', run: 'r' })).toBe(false);
    expect(
      validate?.({ type: 'plan', run: 'r', sigma: 0.3, targetRatio: 0.2 })
    ).toBe(false);
  });
});
