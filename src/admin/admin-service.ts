// The admin API as a runtime Companion: it opens its server when the config has [admin],
// moves it when a reload changes the bind (the new socket opens with the listeners' new ones,
// before the old closes; a failed bind rejects the reload), keeps it when the bind stays,
// and closes it when [admin] goes or lb stops. cli/run.ts attaches it; the runtime never
// imports admin/.
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Companion, CompanionChange } from '../runtime/runtime.js';
import type { AdminTarget } from './admin-target.js';
import { AdminServer } from './admin-server.js';

export class AdminService implements Companion {
  /** The admin API server while [admin] is set. */
  server: AdminServer | null = null;
  /** The [admin] bind of the config in force (undefined: none). */
  private bindText: string | undefined = undefined;

  constructor(
    private readonly target: AdminTarget,
    private readonly log: Logger,
  ) {}

  async prepare(next: Config): Promise<CompanionChange | null> {
    const text = next.admin?.bind.text;
    if (text === this.bindText) return null;
    let fresh: AdminServer | null = null;
    if (next.admin !== undefined) {
      fresh = new AdminServer(this.target, next.admin.bind, this.log);
      await fresh.listen();
    }
    return {
      commit: () => {
        const old = this.server;
        this.server = fresh;
        this.bindText = text;
        void old?.close();
      },
      undo: async () => {
        await fresh?.close();
      },
    };
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
