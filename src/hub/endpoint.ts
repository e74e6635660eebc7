/** The Hub the CLI talks to: `--hub-url`, else `$HF_ENDPOINT` (as huggingface_hub reads it), else huggingface.co. */
export const DEFAULT_HUB_URL = 'https://huggingface.co';

/** The endpoint without trailing slashes. */
export function hubUrl(flag: string | undefined): string {
  return (flag ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
}
