/** The side panel's form to score a model on a corpus into a new (or resumed) run. */
import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { errorMessage, postAPI } from './api';
import { el, foldedForm, labelled } from './dom';
import { ICusprunSettings } from './tokens';

function textInput(name: string, placeholder: string): HTMLInputElement {
  const field = el('input', 'jp-mod-styled');
  field.type = 'text';
  field.name = name;
  field.required = true;
  field.placeholder = placeholder;
  return field;
}

export function scoreForm(
  trans: TranslationBundle,
  serverSettings: ServerConnection.ISettings,
  settings: () => ICusprunSettings
): HTMLElement {
  const t = trans;
  const run = textInput('run', t.__('a new id, or a run to resume'));
  const model = textInput('model', t.__('model.onnx or its folder'));
  const corpus = textInput(
    'corpus',
    t.__('a corpus manifest (.yaml) or a registered corpus')
  );
  const said = el('p', 'jp-CusprunPanel-scoreMessage');
  said.setAttribute('role', 'status');
  const form = foldedForm({
    className: 'jp-CusprunPanel-scoreForm',
    summary: t.__('New scoring run'),
    fields: [
      labelled(t.__('Run'), run),
      labelled(t.__('Model'), model),
      labelled(t.__('Corpus'), corpus)
    ],
    submit: t.__('Score'),
    onSubmit: async () => {
      const { threads } = settings();
      const request = {
        type: 'score',
        run: run.value.trim(),
        model: model.value.trim(),
        corpus: corpus.value.trim(),
        ...(threads > 0 ? { threads } : {})
      };
      try {
        const job = await postAPI<{ id: string }>(
          'api/jobs',
          request,
          serverSettings
        );
        said.textContent = t.__('score %1 on %2: queued', job.id, request.run);
      } catch (error) {
        said.textContent = t.__(
          'The scoring job was refused: %1',
          errorMessage(error)
        );
      }
    }
  });
  form.appendChild(said);
  return form;
}
