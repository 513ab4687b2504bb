import { describe, expect, it } from 'vitest';
import { closestNames, suggestion } from './suggest.ts';

describe('closest names', () => {
  it('ranks names containing the wanted one first, then by edit distance; short names only by distance', () => {
    expect(closestNames('digets', ['name', 'image', 'version', 'digest', 'archive'])).toEqual(['digest']);
    expect(closestNames('repository', ['to', 'files', 'repositories'])).toEqual(['repositories']);
    expect(closestNames('to', ['to', 'tag'])).toEqual(['to', 'tag']);
    expect(suggestion('BUILD_ROT', ['BUILD_ROOT', 'BUILD_HOST', 'PULL_JOBS'])).toBe(
      " (did you mean 'BUILD_ROOT', 'BUILD_HOST'?)",
    );
    expect(suggestion('zzz', ['BUILD_ROOT'])).toBe('');
  });
});
