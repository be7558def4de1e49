"""A local HTTPS emulator of the Azure Resource Manager surface this product uses.

Run it with `python -m emulator` (or `python -m emulator replay PATH...` to hold it to recorded
traffic). The real Azure SDKs (azure-mgmt-compute, azure-mgmt-imagebuilder, azure-eventgrid) talk to it
unmodified. Module map:

* `__main__`     - command line, prints the `{"endpoint", "ca_bundle"}` line, serves until a signal.
* `server`       - HTTP/TLS plumbing: auth, api-version checks, routing, stats, latency, throttle and faults.
* `control`      - the `/_emulator/` control endpoints, one table of (name, method) -> handler.
* `arm`          - request/response types, ARM path parsing, paging, api-version helpers, `serve`.
* `envelope`     - how every resource reads back (name, id, type, location, tags, extras, properties).
* `writes`       - how writes and deletes end: kept identity, 201/202 answers and their operations.
* `state`        - the shared in-memory state (resources, operations, events, config) behind one lock.
* `clock`        - the virtual clock every time-dependent answer is computed from.
* `lro`          - long-running operations (`Azure-AsyncOperation` / `Location` monitors).
* `errors`       - ARM error bodies (`{"error": {"code", "message", "target"}}`).
* `regions`      - the public Azure region catalogue (name <-> display name, zone support).
* `tls`          - the throw-away CA and server certificate made at start.
* `throttle`     - ARM token buckets and `x-ms-ratelimit-remaining-*` headers.
* `faults`       - injected 429/500/503, dropped connections and failed operations.
* `galleries`    - Microsoft.Compute galleries, image definitions and image versions (with replication).
* `imagebuilder` - Microsoft.VirtualMachineImages imageTemplates and their runs.
* `imagebuilder_outputs` - template defaults, the versions a run publishes, runOutputs and triggers.
* `shared_galleries` - what consumers read: shared- and community-gallery images and versions.
* `images`       - Microsoft.Compute managed images (a version's source).
* `disks`, `disk_facts`, `disk_encryption_sets` - DiskRP disks, snapshots and encryption sets.
* `marketplace`  - platform (Marketplace) image versions.
* `vms`          - Microsoft.Compute virtualMachines and virtualMachineScaleSets (for in-use checks).
* `replay`       - `python -m emulator replay`: vcrpy cassettes of real traffic replayed, mismatches listed.
* `eventgrid`    - an Event Grid topic endpoint (`POST /api/events`) that records what it receives.
"""
