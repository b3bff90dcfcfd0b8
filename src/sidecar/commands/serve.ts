import { serve } from '../server/server';
import { numberValue, positionalCount, UsageError } from './args';
import { defineCommand } from './command';

export default defineCommand({
  name: 'serve',
  stopsOnSignals: true,
  synopsis: 'serve [--store DIR] [--port N] [--ignore-stdin]',
  summary:
    'the sidecar service for JupyterLab and notebooks: HTTP + WebSocket on 127.0.0.1; prints one\nJSON line with its port (and its token, unless CUSPRUN_TOKEN set it) when ready; stops on\nSIGTERM or when stdin closes',
  options: {
    store: {
      type: 'string',
      value: 'DIR',
      help: 'the run store (default: $CUSPRUN_STORE, else the nearest .cusprun here or above)'
    },
    port: {
      type: 'string',
      value: 'N',
      help: 'the port (default: a free one)'
    },
    'ignore-stdin': { type: 'boolean', help: 'keep running when stdin closes' }
  },
  run: async ({ values, positionals }) => {
    positionalCount(
      'serve',
      positionals,
      { min: 0, max: 0 },
      'no positional arguments'
    );
    const port = numberValue('port', values.port);
    if (
      port !== undefined &&
      !(Number.isInteger(port) && port >= 0 && port < 65536)
    ) {
      throw new UsageError(
        `--port: takes a port number (0-65535), got '${values.port}'`
      );
    }
    // The ready line goes out as soon as the server listens, not at the end.
    await serve({
      store: values.store,
      port,
      watchStdin: !values['ignore-stdin']
    });
    return '';
  }
});
