import { checkOutputFiles, writeOutputFile } from '../../engine/output';
import { reportMarkdown } from '../format/report';
import { readStudyRecord, STUDY_DIR } from '../jobs/study';
import { positionalCount } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'report',
  synopsis: 'report STUDY_JSON… [--out FILE.md]',
  summary: `several studies' records (the .json each wrote into its run's ${STUDY_DIR}/) as one Markdown\nreport: studies over the same runs, sets and calibration merged into one table, a row they\nshare once; printed, or written to --out`,
  options: {
    out: {
      type: 'string',
      value: 'FILE',
      help: 'write the Markdown here instead of printing it'
    }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'report',
      positionals,
      { min: 1, max: Number.MAX_SAFE_INTEGER },
      `the study records (.json in a run's ${STUDY_DIR}/)`
    );
    if (values.out !== undefined) {
      checkOutputFiles([values.out]);
    }
    const markdown = reportMarkdown(
      positionals.map(readStudyRecord),
      positionals
    );
    if (values.out === undefined) {
      return markdown;
    }
    writeOutputFile(values.out, markdown);
    return `wrote ${values.out}\n`;
  }
});
