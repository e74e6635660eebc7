/** JSON depth checks live with the other input limits (src/limits.ts), shared by every reader. */
export { jsonDepthExceeds } from '../limits.ts';
