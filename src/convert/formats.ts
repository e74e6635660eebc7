/** The output formats `convert` writes (the registry; its own module so the CLI can list them without loading convert). */
export { ALL_FORMATS } from '../formats/registry.ts';
