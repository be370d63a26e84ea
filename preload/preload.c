/* libgrpcr_preload.so: grpc-resilience for a program that was not rebuilt.
 *
 *   LD_PRELOAD=libgrpcr_preload.so GRPCR_CONFIG_FILE=policy.json ./service
 *
 * Plain C with no dependency of its own, so that a process that never uses
 * gRPC pays for one small mapping and nothing else. It defines gRPC 1.51's
 * grpc_core::CoreConfiguration::BuildNewAndMaybeSet(), which libgrpc calls
 * through its PLT when the first channel or server needs gRPC's
 * configuration: the preloaded definition wins, checks that the libgrpc
 * that called it is exactly the one this build was made for (version and
 * build id), loads libgrpcr.so from its own directory, lets it register the
 * filter, and then forwards to libgrpc's own definition. Whatever fails, it
 * logs one line and forwards: the process runs as without the plugin. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GRPCR_LIBGRPC_BUILD_ID
#error "GRPCR_LIBGRPC_BUILD_ID (the build id of the libgrpc.so.29 built against) is required"
#endif
#ifndef GRPCR_LIBRARY_FILE
#error "GRPCR_LIBRARY_FILE (libgrpcr's file name, e.g. libgrpcr.so.0) is required"
#endif

#define HOOK _ZN9grpc_core17CoreConfiguration19BuildNewAndMaybeSetEv
#define HOOK_NAME "_ZN9grpc_core17CoreConfiguration19BuildNewAndMaybeSetEv"
#define CONFIG_NAME "_ZN9grpc_core17CoreConfiguration7config_E"
#define CORE_VERSION "29.0.0" /* gRPC 1.51.1's core */
#ifndef GRPCR_LIBGRPC_SONAME
#define GRPCR_LIBGRPC_SONAME "libgrpc.so.29"
#endif
#define LIBGRPC GRPCR_LIBGRPC_SONAME

typedef const void *(*build_fn)(void);

/* Exported: the one symbol this library interposes. It returns a
 * `const CoreConfiguration&`, a pointer in the ABI. */
__attribute__((visibility("default"))) const void *HOOK(void);

static build_fn g_real;
static void *g_caller;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_hook_ran; /* atomic */

/* One line on stderr, written at once (gRPC's log goes there too). */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
  char line[1024];
  int n = snprintf(line, sizeof line, "grpc-resilience preload: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

/* libgrpc's own definition: the next one in the global scope or, when
 * libgrpc was loaded local to another library (a Ruby extension, say), the
 * one its caller's object resolves to. */
static build_fn find_real(void) {
  build_fn f = (build_fn)dlsym(RTLD_NEXT, HOOK_NAME);
  if (f && f != HOOK) return f;
  Dl_info info;
  void *caller = __atomic_load_n(&g_caller, __ATOMIC_RELAXED);
  if (caller && dladdr(caller, &info) && info.dli_fname) {
    void *h = dlopen(info.dli_fname, RTLD_NOLOAD | RTLD_LAZY);
    if (h) {
      f = (build_fn)dlsym(h, HOOK_NAME);
      dlclose(h);
      if (f && f != HOOK) return f;
    }
  }
  void *h = dlopen(LIBGRPC, RTLD_NOLOAD | RTLD_LAZY);
  if (h) {
    f = (build_fn)dlsym(h, HOOK_NAME);
    dlclose(h);
    if (f && f != HOOK) return f;
  }
  return NULL;
}

typedef struct {
  uintptr_t addr;  /* in: an address inside the object */
  const char *name; /* out */
  char build_id[2 * 64 + 1];
  int found;
} object_query;

static void hex(const unsigned char *p, size_t n, char *out, size_t cap) {
  static const char digits[] = "0123456789abcdef";
  size_t i = 0;
  for (; i < n && 2 * i + 2 < cap; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * i] = '\0';
}

/* The GNU build id among an object's notes ("" if it has none). */
static void read_build_id(const struct dl_phdr_info *info, char *out,
                          size_t cap) {
  out[0] = '\0';
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const size_t align = ph->p_align > 4 ? ph->p_align : 4;
    const unsigned char *p =
        (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    const unsigned char *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
      const unsigned char *name = p + sizeof *nh;
      const size_t name_len = (nh->n_namesz + align - 1) & ~(align - 1);
      const unsigned char *desc = name + name_len;
      const size_t desc_len = (nh->n_descsz + align - 1) & ~(align - 1);
      if (desc + nh->n_descsz > end) break;
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
          memcmp(name, "GNU", 4) == 0) {
        hex(desc, nh->n_descsz, out, cap);
        return;
      }
      p = desc + desc_len;
    }
  }
}

static int find_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  object_query *q = data;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && q->addr >= start &&
        q->addr < start + ph->p_memsz) {
      q->name = info->dlpi_name;
      read_build_id(info, q->build_id, sizeof q->build_id);
      q->found = 1;
      return 1;
    }
  }
  return 0;
}

/* Whether the libgrpc defining f is the one this build was made for. */
static int gate(build_fn f) {
  object_query q = {.addr = (uintptr_t)f};
  dl_iterate_phdr(find_object, &q);
  if (!q.found) {
    say("cannot find the library that defines gRPC's configuration; "
        "nothing is installed");
    return 0;
  }
  const char *name = q.name && q.name[0] ? q.name : "(the program)";
  const char *version = NULL;
  void *h = q.name && q.name[0] ? dlopen(q.name, RTLD_NOLOAD | RTLD_LAZY) : NULL;
  if (h) {
    const char *(*version_fn)(void) =
        (const char *(*)(void))dlsym(h, "grpc_version_string");
    if (version_fn) version = version_fn();
    dlclose(h);
  }
  if (!version || strcmp(version, CORE_VERSION) != 0) {
    say("%s is gRPC core %s, this build needs %s (gRPC 1.51.1); nothing is "
        "installed",
        name, version ? version : "(unknown)", CORE_VERSION);
    return 0;
  }
  if (strcmp(q.build_id, GRPCR_LIBGRPC_BUILD_ID) != 0) {
    say("%s has build id %s, this build was made for %s; nothing is "
        "installed",
        name, q.build_id[0] ? q.build_id : "(none)", GRPCR_LIBGRPC_BUILD_ID);
    return 0;
  }
  return 1;
}

/* libgrpcr.so, from this library's own directory. */
static void *load_library(void) {
  Dl_info self;
  if (!dladdr((void *)&HOOK, &self) || !self.dli_fname) {
    say("cannot find its own path; nothing is installed");
    return NULL;
  }
  char path[4096];
  const char *slash = strrchr(self.dli_fname, '/');
  const int dir_len = slash ? (int)(slash - self.dli_fname) : 1;
  const char *dir = slash ? self.dli_fname : ".";
  if (snprintf(path, sizeof path, "%.*s/%s", dir_len, dir,
               GRPCR_LIBRARY_FILE) >= (int)sizeof path) {
    say("path too long; nothing is installed");
    return NULL;
  }
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) say("cannot load %s: %s; nothing is installed", path, dlerror());
  return lib;
}

static void install(void) {
  __atomic_store_n(&g_hook_ran, 1, __ATOMIC_RELEASE);
  g_real = find_real();
  if (!g_real) return;
  if (!gate(g_real)) return;
  void *lib = load_library();
  if (!lib) return;
  int (*install_fn)(void) =
      (int (*)(void))dlsym(lib, "grpcr_internal_preload_install");
  if (!install_fn) {
    say("%s has no grpcr_internal_preload_install; nothing is installed",
        GRPCR_LIBRARY_FILE);
    return;
  }
  install_fn(); /* logs its own errors */
}

const void *HOOK(void) {
  if (!__atomic_load_n(&g_hook_ran, __ATOMIC_ACQUIRE)) {
    __atomic_store_n(&g_caller, __builtin_return_address(0), __ATOMIC_RELAXED);
  }
  pthread_once(&g_once, install);
  if (!g_real) {
    /* Unreachable: only libgrpc calls this, and it defines the real one. */
    say("cannot find libgrpc's BuildNewAndMaybeSet; aborting");
    abort();
  }
  return g_real();
}

/* Whether the object's relocations name the hook's symbol: libgrpc's own
 * calls then go through its PLT (or GOT) and reach the preload. A library
 * linked with -Bsymbolic-functions binds them inside itself and has none. */
static int find_named(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *base = strrchr(info->dlpi_name, '/');
  base = base ? base + 1 : info->dlpi_name;
  if (strcmp(base, LIBGRPC) != 0) return 0;
  *(struct dl_phdr_info *)data = *info;
  return 1;
}

static int routes_through_plt(const struct dl_phdr_info *info) {
  const ElfW(Dyn) *dyn = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
      dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    }
  }
  if (!dyn) return -1;
  uintptr_t symtab = 0, strtab = 0, jmprel = 0, rela = 0;
  size_t pltrelsz = 0, relasz = 0;
  for (; dyn->d_tag != DT_NULL; dyn++) {
    switch (dyn->d_tag) {
      case DT_SYMTAB: symtab = dyn->d_un.d_ptr; break;
      case DT_STRTAB: strtab = dyn->d_un.d_ptr; break;
      case DT_JMPREL: jmprel = dyn->d_un.d_ptr; break;
      case DT_PLTRELSZ: pltrelsz = dyn->d_un.d_val; break;
      case DT_RELA: rela = dyn->d_un.d_ptr; break;
      case DT_RELASZ: relasz = dyn->d_un.d_val; break;
      default: break;
    }
  }
  if (!symtab || !strtab) return -1;
  /* glibc relocates these entries in place on x86-64; be safe either way. */
  const uintptr_t a = info->dlpi_addr;
  if (symtab < a) symtab += a;
  if (strtab < a) strtab += a;
  if (jmprel && jmprel < a) jmprel += a;
  if (rela && rela < a) rela += a;
  const ElfW(Sym) *syms = (const ElfW(Sym) *)symtab;
  const char *strs = (const char *)strtab;
  const struct {
    uintptr_t at;
    size_t size;
  } tables[] = {{jmprel, pltrelsz}, {rela, relasz}};
  for (size_t t = 0; t < 2; t++) {
    const ElfW(Rela) *r = (const ElfW(Rela) *)tables[t].at;
    const size_t n = tables[t].at ? tables[t].size / sizeof *r : 0;
    for (size_t i = 0; i < n; i++) {
      const size_t sym = ELF64_R_SYM(r[i].r_info);
      if (sym && strcmp(strs + syms[sym].st_name, HOOK_NAME) == 0) return 1;
    }
  }
  return 0;
}

/* The stats and /metrics addresses belong to the process they were set
 * for: the first one that loads the preload with them (grpcr-run sets this
 * for the program it starts, whose pid it is). Children inherit the
 * environment, this variable included, and so know the addresses are not
 * theirs (unless an address holds "%p"). Before main, so before any thread
 * could read the environment. */
__attribute__((constructor)) static void claim_addresses(void) {
  if ((getenv("GRPCR_STATS_ADDR") == NULL &&
       getenv("GRPCR_METRICS_ADDR") == NULL) ||
      getenv("GRPCR_SERVE_PID") != NULL) {
    return;
  }
  char pid[24];
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  setenv("GRPCR_SERVE_PID", pid, 0);
}

/* Runs after the libraries the program links (and their constructors):
 *  - a libgrpc that binds its own calls cannot be reached at all: say so;
 *  - if gRPC's configuration exists by then without the hook having run,
 *    the preload came too late. */
__attribute__((constructor)) static void check_reachable(void) {
  struct dl_phdr_info info;
  if (!dl_iterate_phdr(find_named, &info)) return; /* no gRPC (yet) */
  if (routes_through_plt(&info) == 0) {
    say("%s binds its own calls to gRPC's configuration build (linked with "
        "-Bsymbolic-functions?), so the preload cannot act; nothing is "
        "installed: call grpcr_register() in the program instead",
        info.dlpi_name);
    return;
  }
  void *h = dlopen(LIBGRPC, RTLD_NOLOAD | RTLD_LAZY);
  if (!h) return;
  void *const *config = (void *const *)dlsym(h, CONFIG_NAME);
  if (config && __atomic_load_n(config, __ATOMIC_ACQUIRE) != NULL &&
      !__atomic_load_n(&g_hook_ran, __ATOMIC_ACQUIRE)) {
    say("gRPC's configuration was built before the preload could act "
        "(libgrpc did not call it through its PLT); nothing is installed");
  }
  dlclose(h);
}
