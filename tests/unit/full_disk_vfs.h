// A SQLite VFS over the default one whose writes to a write-ahead log fail with SQLITE_FULL
// while `full` is set: a disk that fills up under a running store, without mounting one.
// Registered as the default VFS for its lifetime; connections opened meanwhile use it.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string_view>

namespace outrigger::testing {

class FullDiskVfs {
 public:
  FullDiskVfs() {
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "full_disk_for_test";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.pAppData = this;
    vfs_.xOpen = &FullDiskVfs::open;
    sqlite3_vfs_register(&vfs_, /*makeDflt=*/1);
  }
  ~FullDiskVfs() {
    sqlite3_vfs_unregister(&vfs_);
    sqlite3_vfs_register(real_, 1);
  }
  FullDiskVfs(const FullDiskVfs&) = delete;
  FullDiskVfs& operator=(const FullDiskVfs&) = delete;

  std::atomic<bool> full{false};

 private:
  struct File {
    sqlite3_file base;
    FullDiskVfs* owner;
    bool wal;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static File* of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }

  static int open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
    auto* self = static_cast<FullDiskVfs*>(vfs->pAppData);
    File* f = of(file);
    f->owner = self;
    f->wal = name && std::string_view(name).size() > 4 && std::string_view(name).substr(std::strlen(name) - 4) == "-wal";
    int rc = self->real_->xOpen(self->real_, name, f->real(), flags, out_flags);
    // Every method forwards to the real file, but for writes to the log while the disk is full.
    static const sqlite3_io_methods methods = [] {
      sqlite3_io_methods m{};
      m.iVersion = 3;
      m.xClose = [](sqlite3_file* x) { return of(x)->real()->pMethods->xClose(of(x)->real()); };
      m.xRead = [](sqlite3_file* x, void* b, int n, sqlite3_int64 o) { return of(x)->real()->pMethods->xRead(of(x)->real(), b, n, o); };
      m.xWrite = [](sqlite3_file* x, const void* b, int n, sqlite3_int64 o) {
        if (of(x)->wal && of(x)->owner->full) return SQLITE_FULL;
        return of(x)->real()->pMethods->xWrite(of(x)->real(), b, n, o);
      };
      m.xTruncate = [](sqlite3_file* x, sqlite3_int64 n) { return of(x)->real()->pMethods->xTruncate(of(x)->real(), n); };
      m.xSync = [](sqlite3_file* x, int f) { return of(x)->real()->pMethods->xSync(of(x)->real(), f); };
      m.xFileSize = [](sqlite3_file* x, sqlite3_int64* n) { return of(x)->real()->pMethods->xFileSize(of(x)->real(), n); };
      m.xLock = [](sqlite3_file* x, int l) { return of(x)->real()->pMethods->xLock(of(x)->real(), l); };
      m.xUnlock = [](sqlite3_file* x, int l) { return of(x)->real()->pMethods->xUnlock(of(x)->real(), l); };
      m.xCheckReservedLock = [](sqlite3_file* x, int* r) { return of(x)->real()->pMethods->xCheckReservedLock(of(x)->real(), r); };
      m.xFileControl = [](sqlite3_file* x, int op, void* a) { return of(x)->real()->pMethods->xFileControl(of(x)->real(), op, a); };
      m.xSectorSize = [](sqlite3_file* x) { return of(x)->real()->pMethods->xSectorSize(of(x)->real()); };
      m.xDeviceCharacteristics = [](sqlite3_file* x) { return of(x)->real()->pMethods->xDeviceCharacteristics(of(x)->real()); };
      m.xShmMap = [](sqlite3_file* x, int p, int s, int e, void volatile** m) { return of(x)->real()->pMethods->xShmMap(of(x)->real(), p, s, e, m); };
      m.xShmLock = [](sqlite3_file* x, int o, int n, int f) { return of(x)->real()->pMethods->xShmLock(of(x)->real(), o, n, f); };
      m.xShmBarrier = [](sqlite3_file* x) { of(x)->real()->pMethods->xShmBarrier(of(x)->real()); };
      m.xShmUnmap = [](sqlite3_file* x, int d) { return of(x)->real()->pMethods->xShmUnmap(of(x)->real(), d); };
      m.xFetch = [](sqlite3_file* x, sqlite3_int64 o, int n, void** p) { return of(x)->real()->pMethods->xFetch(of(x)->real(), o, n, p); };
      m.xUnfetch = [](sqlite3_file* x, sqlite3_int64 o, void* p) { return of(x)->real()->pMethods->xUnfetch(of(x)->real(), o, p); };
      return m;
    }();
    // A file the real VFS did not open has no methods, and SQLite then closes nothing.
    file->pMethods = f->real()->pMethods ? &methods : nullptr;
    return rc;
  }

  sqlite3_vfs* real_;
  sqlite3_vfs vfs_;
};

}  // namespace outrigger::testing
