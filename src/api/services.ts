// What the API needs from the daemon: the services it calls. The daemon builds them; tests may too.
import type { JobService } from "../service/jobs.js";
import type { ImageService } from "../service/images.js";
import type { BaseService } from "../service/bases.js";
import type { MachineService } from "../machine/index.js";
import type { AppService } from "../apps/index.js";
import type { DoctorWire } from "./schemas.js";

export interface ApiServices {
  version: string;
  jobs: JobService;
  images: ImageService;
  bases: BaseService;
  machines: MachineService;
  apps: AppService;
  doctor: () => Promise<DoctorWire>;
}
