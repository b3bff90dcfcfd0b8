/** The extension's icon: the side bar tab, the launcher card. */
import { LabIcon } from '@jupyterlab/ui-components';

// A pruned network: three layers, the crossed-out unit is the one removed.
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<circle cx="5" cy="6" r="2"/><circle cx="5" cy="18" r="2"/>
<circle cx="12" cy="12" r="2"/><circle cx="19" cy="6" r="2"/><circle cx="19" cy="18" r="2"/>
<path d="M6.4 7.4l4.2 3.2-.6.8-4.2-3.2zM6.4 16.6l4.2-3.2.6.8-4.2 3.2zM13.4 10.6l4.2-3.2.6.8-4.2 3.2zM13.4 13.4l4.2 3.2-.6.8-4.2-3.2z"/>
</g>
<path class="jp-icon-warn0" fill="none" stroke="#e65100" stroke-width="1.6" d="M9.5 2.5l5 7M14.5 2.5l-5 7"/>
</svg>`;

export const cusprunIcon = new LabIcon({ name: 'cusprun:icon', svgstr: SVG });
