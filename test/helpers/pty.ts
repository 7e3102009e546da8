/**
 * Running a real program on a real pseudo-terminal (python3's `pty` module): the child gets the terminal as its
 * controlling tty (stdin, stdout, stderr and /dev/tty), the test answers its prompts by what it prints, and gets all
 * the terminal showed, so that what a user typed can be checked not to appear (no echo).
 */
import { spawnSync } from 'node:child_process';

/** Send `send` once the terminal output since the last answer matches `expect` (a Python regular expression). */
export interface PtyAnswer {
  readonly expect: string;
  readonly send: string;
}

export interface PtyRun {
  /** Everything the terminal showed (the program's output, and any echo of what was typed). */
  readonly output: string;
  readonly code: number;
  /** How many answers were sent (all, unless the program stopped asking). */
  readonly answered: number;
}

const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    os.execvpe(spec['argv'][0], spec['argv'], spec['env'])
out = b''
since = 0
answered = 0
answers = spec['answers']
deadline = time.time() + spec['timeout']
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    if answered < len(answers) and re.search(answers[answered]['expect'].encode(), out[since:]):
        # A moment for the program to switch echo off after its prompt, as age does (Go's term.ReadPassword).
        time.sleep(0.3)
        os.write(fd, answers[answered]['send'].encode())
        answered += 1
        since = len(out)
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
print(json.dumps({'output': out.decode('utf8', 'replace'), 'code': code, 'answered': answered}))
`;

/** Runs `argv` on a pseudo-terminal in `cwd`, answering `answers` in order. */
export function runInPty(
  argv: readonly string[],
  options: {
    readonly cwd: string;
    readonly env?: NodeJS.ProcessEnv;
    readonly answers?: readonly PtyAnswer[];
    readonly timeoutMs?: number;
  },
): PtyRun {
  const env = { ...process.env, ...options.env, TERM: 'xterm' };
  const spec = {
    argv,
    cwd: options.cwd,
    env,
    answers: options.answers ?? [],
    timeout: (options.timeoutMs ?? 60_000) / 1000,
  };
  const r = spawnSync('python3', ['-c', DRIVER, JSON.stringify(spec)], {
    encoding: 'utf8',
    timeout: (options.timeoutMs ?? 60_000) + 10_000,
  });
  if (r.status !== 0) throw new Error(`the pty driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PtyRun;
}
