// Renders a Jinja template with the real Jinja (python3-jinja2), as Salt renders files on nodes.
import { execFileSync } from 'node:child_process';
import { requireTool } from './helpers.ts';

export function renderJinja(template: string, context: Record<string, unknown>): string {
  const python = requireTool('python3');
  try {
    return execFileSync(
      python,
      [
        '-c',
        [
          'import json, sys',
          'try:\n    import jinja2\nexcept ImportError:\n    sys.exit("jinja2 missing; install it with: apt-get install -y python3-jinja2")',
          'sys.stdout.write(jinja2.Template(sys.stdin.read(), keep_trailing_newline=True).render(**json.loads(sys.argv[1])))',
        ].join('\n'),
        JSON.stringify(context),
      ],
      { input: template, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
    );
  } catch (error) {
    throw new Error(`jinja: ${String((error as { stderr?: string }).stderr || error)}`);
  }
}
