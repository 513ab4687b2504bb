// Shell completion scripts: verbs and task names, asked from the build itself at completion time
// so that they follow the project as it changes.
import { basename } from 'node:path';
import { UsageError } from '../errors.ts';

export function completionScript(shell: string, program: string, verbs: readonly string[]): string {
  const command = basename(program);
  const fn = `_${command.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const verbList = verbs.join(' ');
  if (shell === 'bash') {
    return `# bash completion for ${command}: source it, or save it under /etc/bash_completion.d/
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  words="$("\${COMP_WORDS[0]}" list --all --private --quiet 2>/dev/null)"
  if [ "$COMP_CWORD" -eq 1 ]; then words="${verbList} $words"; fi
  if declare -F _get_comp_words_by_ref >/dev/null; then _get_comp_words_by_ref -n : cur; fi
  # shellcheck disable=SC2207
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  if declare -F __ltrim_colon_completions >/dev/null; then __ltrim_colon_completions "$cur"; fi
}
complete -F ${fn} ${command} ./${command}
`;
  }
  if (shell === 'zsh') {
    return `#compdef ${command}
# zsh completion for ${command}: source it, or save it as _${command} in a directory of $fpath
${fn}() {
  local -a tasks
  tasks=(\${(f)"$(\${words[1]} list --all --private --quiet 2>/dev/null)"})
  if (( CURRENT == 2 )); then tasks+=(${verbList}); fi
  compadd -- $tasks
}
compdef ${fn} ${command} ./${command}
`;
  }
  throw new UsageError(`tabcompletion --shell takes bash or zsh, not '${shell}'`);
}
