/**
 * onnxruntime 1.30's Linux build records telemetry and leaves `.ses` and `mat-debug-PID.log` in
 * the temporary folder of every process that opens a session. A researcher's tool keeps quiet
 * unless asked: off unless the user set ORT_DISABLE_TELEMETRY. Imported before onnxruntime-node
 * (runtime.ts); worker threads inherit the environment the main thread set.
 */
process.env.ORT_DISABLE_TELEMETRY ??= '1';
