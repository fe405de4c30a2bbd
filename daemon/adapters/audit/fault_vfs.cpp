// SPDX-License-Identifier: Apache-2.0
#include "adapters/audit/fault_vfs.hpp"

#include <cstdio>

namespace zonegate::adapters::audit {
namespace {

/// The shim's file object; the real VFS's file object follows it in the same allocation
/// (szOsFile covers both).
struct ShimFile {
  sqlite3_file base;
  FaultVfs* owner;
  sqlite3_file* real;
};
static_assert(sizeof(ShimFile) % 8 == 0, "the real file object must stay 8-byte aligned");

ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return shim(f)->real; }
const sqlite3_io_methods* rm(sqlite3_file* f) { return real(f)->pMethods; }
FaultVfs* owner(sqlite3_vfs* v) { return static_cast<FaultVfs*>(v->pAppData); }

int x_close(sqlite3_file* f) {
  const int rc = rm(f)->xClose(real(f));
  f->pMethods = nullptr;
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) { return rm(f)->xRead(real(f), buf, n, off); }
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (const int rc = shim(f)->owner->on_io(false); rc != SQLITE_OK) return rc;
  return rm(f)->xWrite(real(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return rm(f)->xTruncate(real(f), size); }
int x_sync(sqlite3_file* f, int flags) {
  if (const int rc = shim(f)->owner->on_io(true); rc != SQLITE_OK) return rc;
  return rm(f)->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return rm(f)->xFileSize(real(f), size); }
int x_lock(sqlite3_file* f, int level) { return rm(f)->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return rm(f)->xUnlock(real(f), level); }
int x_check_reserved(sqlite3_file* f, int* out) { return rm(f)->xCheckReservedLock(real(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return rm(f)->xFileControl(real(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return rm(f)->xSectorSize(real(f)); }
int x_device_chars(sqlite3_file* f) { return rm(f)->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  if (rm(f)->iVersion < 2) return SQLITE_IOERR;
  return rm(f)->xShmMap(real(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  if (rm(f)->iVersion < 2) return SQLITE_IOERR;
  return rm(f)->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  if (rm(f)->iVersion >= 2) rm(f)->xShmBarrier(real(f));
}
int x_shm_unmap(sqlite3_file* f, int del) {
  if (rm(f)->iVersion < 2) return SQLITE_OK;
  return rm(f)->xShmUnmap(real(f), del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int amount, void** out) {
  if (rm(f)->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return rm(f)->xFetch(real(f), off, amount, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  if (rm(f)->iVersion < 3) return SQLITE_OK;
  return rm(f)->xUnfetch(real(f), off, p);
}

const sqlite3_io_methods kShimMethods = {
    3,          x_close,       x_read,           x_write,        x_truncate,    x_sync,         x_file_size,
    x_lock,     x_unlock,      x_check_reserved, x_file_control, x_sector_size, x_device_chars, x_shm_map,
    x_shm_lock, x_shm_barrier, x_shm_unmap,      x_fetch,        x_unfetch,
};

int v_open(sqlite3_vfs* v, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  ShimFile* s = shim(f);
  s->owner = owner(v);
  s->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + sizeof(ShimFile));
  sqlite3_vfs* r = s->owner->real();
  const int rc = r->xOpen(r, name, s->real, flags, out_flags);
  // SQLite calls xClose only if pMethods is set; mirror the real file's state.
  f->pMethods = s->real->pMethods != nullptr ? &kShimMethods : nullptr;
  return rc;
}
int v_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return owner(v)->real()->xDelete(owner(v)->real(), name, sync_dir);
}
int v_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return owner(v)->real()->xAccess(owner(v)->real(), name, flags, out);
}
int v_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return owner(v)->real()->xFullPathname(owner(v)->real(), name, n, out);
}
void* v_dl_open(sqlite3_vfs* v, const char* name) { return owner(v)->real()->xDlOpen(owner(v)->real(), name); }
void v_dl_error(sqlite3_vfs* v, int n, char* msg) { owner(v)->real()->xDlError(owner(v)->real(), n, msg); }
void (*v_dl_sym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return owner(v)->real()->xDlSym(owner(v)->real(), h, sym);
}
void v_dl_close(sqlite3_vfs* v, void* h) { owner(v)->real()->xDlClose(owner(v)->real(), h); }
int v_randomness(sqlite3_vfs* v, int n, char* out) { return owner(v)->real()->xRandomness(owner(v)->real(), n, out); }
int v_sleep(sqlite3_vfs* v, int us) { return owner(v)->real()->xSleep(owner(v)->real(), us); }
int v_current_time(sqlite3_vfs* v, double* out) { return owner(v)->real()->xCurrentTime(owner(v)->real(), out); }
int v_last_error(sqlite3_vfs* v, int n, char* out) { return owner(v)->real()->xGetLastError(owner(v)->real(), n, out); }
int v_current_time64(sqlite3_vfs* v, sqlite3_int64* out) {
  sqlite3_vfs* r = owner(v)->real();
  if (r->iVersion >= 2 && r->xCurrentTimeInt64 != nullptr) return r->xCurrentTimeInt64(r, out);
  double d = 0;
  const int rc = r->xCurrentTime(r, &d);
  *out = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}

}  // namespace

std::unique_ptr<FaultVfs> FaultVfs::create() {
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) return nullptr;
  std::unique_ptr<FaultVfs> v(new FaultVfs());
  v->real_ = base;
  char name[64];
  std::snprintf(name, sizeof name, "zonegate-fault-%p", static_cast<void*>(v.get()));
  v->name_ = name;
  sqlite3_vfs& s = v->vfs_;
  s.iVersion = 2;
  s.szOsFile = static_cast<int>(sizeof(ShimFile)) + base->szOsFile;
  s.mxPathname = base->mxPathname;
  s.zName = v->name_.c_str();
  s.pAppData = v.get();
  s.xOpen = v_open;
  s.xDelete = v_delete;
  s.xAccess = v_access;
  s.xFullPathname = v_full_pathname;
  s.xDlOpen = v_dl_open;
  s.xDlError = v_dl_error;
  s.xDlSym = v_dl_sym;
  s.xDlClose = v_dl_close;
  s.xRandomness = v_randomness;
  s.xSleep = v_sleep;
  s.xCurrentTime = v_current_time;
  s.xGetLastError = v_last_error;
  s.xCurrentTimeInt64 = v_current_time64;
  if (sqlite3_vfs_register(&s, 0) != SQLITE_OK) return nullptr;
  return v;
}

FaultVfs::~FaultVfs() {
  if (real_ != nullptr) sqlite3_vfs_unregister(&vfs_);
}

void FaultVfs::arm(std::optional<Fault> fault) {
  std::lock_guard lock(mutex_);
  fault_ = fault;
  firing_ = false;
  countdown_ = fault ? (fault->nth == 0 ? 1 : fault->nth) : 0;
}

int FaultVfs::on_io(bool is_sync) {
  std::lock_guard lock(mutex_);
  if (!fault_) return SQLITE_OK;
  const bool wants_sync = fault_->kind == Fault::Kind::fsync_error;
  if (is_sync != wants_sync) return SQLITE_OK;
  if (!firing_) {
    if (--countdown_ != 0) return SQLITE_OK;
    firing_ = true;
  }
  const int rc = fault_->kind == Fault::Kind::disk_full  ? SQLITE_FULL
                 : fault_->kind == Fault::Kind::io_error ? SQLITE_IOERR_WRITE
                                                         : SQLITE_IOERR_FSYNC;
  if (!fault_->sticky) fault_.reset();
  fired_.fetch_add(1);
  return rc;
}

}  // namespace zonegate::adapters::audit
