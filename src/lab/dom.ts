/** The one DOM helper of the lab's widgets: an element with a class and a text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

/** A control with its label before it. */
export function labelled(label: string, control: HTMLElement): HTMLElement {
  const wrap = el('label', 'jp-CusprunForm-field');
  wrap.append(el('span', undefined, label), control);
  return wrap;
}

/**
 * A form folded into `<details>` (the panel's actions stay out of the way until wanted); its
 * submit button is disabled while `onSubmit` runs.
 */
export function foldedForm(options: {
  className: string;
  summary: string;
  fields: HTMLElement[];
  submit: string;
  onSubmit: () => Promise<void>;
}): HTMLDetailsElement {
  const details = el('details', `jp-CusprunForm ${options.className}`);
  details.appendChild(el('summary', undefined, options.summary));
  const form = el('form');
  const button = el('button', 'jp-mod-styled jp-mod-accept', options.submit);
  button.type = 'submit';
  form.append(...options.fields, button);
  form.addEventListener('submit', event => {
    event.preventDefault();
    button.disabled = true;
    void options.onSubmit().finally(() => (button.disabled = false));
  });
  details.appendChild(form);
  return details;
}
