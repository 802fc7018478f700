/*
 * ward_tpm: ES256 signatures from a TPM 2.0 persistent key through tss2-esys, for Ward's TPM key
 * store (main/core/identity/tpm-key-store.ts). Plain C on Node-API (ABI-stable: the same binary
 * loads in Node and in Electron).
 *
 *   const ctx = new TpmContext('swtpm:host=127.0.0.1,port=2321', 10000);  // null: tctildr's default
 *   const rs = await ctx.sign(0x81020000, sha256Digest);                   // 64-byte r||s
 *   await ctx.close();                                                     // drops the connection
 *
 * One TpmContext holds one ESYS context (one TCTI), opened on the first call and kept. (What the
 * TCTI keeps open varies: device:/dev/tpmrm0 and mssim hold their fd or socket; swtpm's TCTI makes
 * a TCP connection per command.) Each persistent handle becomes an ESYS_TR once
 * (Esys_TR_FromTPMPublic) and is reused. Calls
 * run on the libuv thread pool (napi_async_work) and are serialised per context by a mutex: an
 * ESYS context is not thread-safe. A call that finds the connection dead (TPM restarted, socket
 * dropped) reconnects and tries once more; if that fails too it is rejected as `tpm-unavailable`
 * and the next call starts from a fresh connection. `close()` frees the connection (the object
 * stays usable and reconnects on its next call); the GC finaliser frees everything.
 *
 * Rejections are Error objects with `code` = 'tpm-unavailable' | 'device-key-lost' | 'tpm-error',
 * `tpmRc` (the TSS2_RC) and `stage`. Messages carry TPM return codes, never key material.
 */
#define _POSIX_C_SOURCE 200809L
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#define MAX_KEYS 16
#define DIGEST_LEN 32
#define COORD_LEN 32
#define MAX_CONF_LEN 1024

typedef struct {
  pthread_mutex_t lock;
  char *conf; /* TCTI config string ("swtpm:host=...,port=N", "device:/dev/tpmrm0"); NULL = default */
  int32_t timeout_ms;
  TSS2_TCTI_CONTEXT *tcti;
  ESYS_CONTEXT *esys;
  struct {
    TPM2_HANDLE handle;
    ESYS_TR tr;
  } keys[MAX_KEYS];
  size_t nkeys;
  unsigned opens; /* connections opened so far: lets tests see a reconnect */
} signer_t;

typedef enum { OP_SIGN, OP_CLOSE } op_t;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref self; /* keeps the TpmContext alive while the work is in flight */
  signer_t *s;
  op_t op;
  TPM2_HANDLE handle;
  uint8_t digest[DIGEST_LEN];
  uint8_t sig[2 * COORD_LEN];
  TSS2_RC rc;
  const char *stage;
  int bad_signature;
} work_t;

/* ---- TPM side (runs on a worker thread, under s->lock) ---------------------------------------- */

static void disconnect(signer_t *s) {
  if (s->esys) {
    /* TR_Close only frees ESYS's bookkeeping; the persistent key stays in the TPM. */
    for (size_t i = 0; i < s->nkeys; i++) Esys_TR_Close(s->esys, &s->keys[i].tr);
    Esys_Finalize(&s->esys);
  }
  s->nkeys = 0;
  if (s->tcti) Tss2_TctiLdr_Finalize(&s->tcti);
}

static TSS2_RC connect_tpm(signer_t *s) {
  TSS2_RC rc = Tss2_TctiLdr_Initialize(s->conf, &s->tcti);
  if (rc != TSS2_RC_SUCCESS) {
    s->tcti = NULL;
    return rc;
  }
  rc = Esys_Initialize(&s->esys, s->tcti, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    s->esys = NULL;
    Tss2_TctiLdr_Finalize(&s->tcti);
    return rc;
  }
  Esys_SetTimeout(s->esys, s->timeout_ms);
  __atomic_add_fetch(&s->opens, 1, __ATOMIC_RELAXED);
  return TSS2_RC_SUCCESS;
}

static void forget_key(signer_t *s, TPM2_HANDLE handle) {
  for (size_t i = 0; i < s->nkeys; i++) {
    if (s->keys[i].handle != handle) continue;
    Esys_TR_Close(s->esys, &s->keys[i].tr);
    s->keys[i] = s->keys[--s->nkeys];
    return;
  }
}

static TSS2_RC key_tr(signer_t *s, TPM2_HANDLE handle, ESYS_TR *out) {
  for (size_t i = 0; i < s->nkeys; i++) {
    if (s->keys[i].handle == handle) {
      *out = s->keys[i].tr;
      return TSS2_RC_SUCCESS;
    }
  }
  if (s->nkeys == MAX_KEYS) forget_key(s, s->keys[0].handle);
  ESYS_TR tr = ESYS_TR_NONE;
  TSS2_RC rc = Esys_TR_FromTPMPublic(s->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
  if (rc != TSS2_RC_SUCCESS) return rc;
  s->keys[s->nkeys].handle = handle;
  s->keys[s->nkeys].tr = tr;
  s->nkeys++;
  *out = tr;
  return TSS2_RC_SUCCESS;
}

static void left_pad(uint8_t *dst, const TPM2B_ECC_PARAMETER *p) {
  memset(dst, 0, COORD_LEN);
  memcpy(dst + COORD_LEN - p->size, p->buffer, p->size);
}

static TSS2_RC sign_once(signer_t *s, work_t *w) {
  TSS2_RC rc;
  if (!s->esys) {
    w->stage = "connecting to the TPM";
    rc = connect_tpm(s);
    if (rc != TSS2_RC_SUCCESS) return rc;
  }
  w->stage = "opening the device key's persistent handle";
  ESYS_TR key = ESYS_TR_NONE;
  rc = key_tr(s, w->handle, &key);
  if (rc != TSS2_RC_SUCCESS) return rc;

  w->stage = "signing with the device key";
  TPM2B_DIGEST digest = {.size = DIGEST_LEN};
  memcpy(digest.buffer, w->digest, DIGEST_LEN);
  const TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA, .details = {.ecdsa = {.hashAlg = TPM2_ALG_SHA256}}};
  /* The key is not restricted, so the TPM accepts an empty ticket for an outside digest. */
  const TPMT_TK_HASHCHECK ticket = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL, .digest = {.size = 0}};
  TPMT_SIGNATURE *signature = NULL;
  rc = Esys_Sign(s->esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digest, &scheme, &ticket, &signature);
  if (rc != TSS2_RC_SUCCESS) {
    /* The handle may be stale (evicted, TPM cleared): look it up afresh next time. */
    forget_key(s, w->handle);
    return rc;
  }
  const TPMS_SIGNATURE_ECC *ecc = &signature->signature.ecdsa;
  if (signature->sigAlg != TPM2_ALG_ECDSA || ecc->signatureR.size > COORD_LEN || ecc->signatureS.size > COORD_LEN) {
    w->bad_signature = 1;
  } else {
    left_pad(w->sig, &ecc->signatureR);
    left_pad(w->sig + COORD_LEN, &ecc->signatureS);
  }
  Esys_Free(signature);
  return TSS2_RC_SUCCESS;
}

/* The connection to the TPM is gone or never came up (as opposed to the TPM answering "no"). */
static int connection_failed(TSS2_RC rc) {
  TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  TSS2_RC base = rc & 0xffff;
  if (layer == TSS2_TPM_RC_LAYER) return 0;
  if (layer == TSS2_TCTI_RC_LAYER) return 1;
  return base == TSS2_BASE_RC_NO_CONNECTION || base == TSS2_BASE_RC_IO_ERROR || base == TSS2_BASE_RC_TRY_AGAIN ||
         base == TSS2_BASE_RC_INSUFFICIENT_RESPONSE || base == TSS2_BASE_RC_MALFORMED_RESPONSE;
}

/* The TPM says there is no object at the handle we named: TPM_RC_HANDLE / TPM_RC_VALUE on handle 1,
 * or TPM_RC_REFERENCE_H0. */
static int handle_gone(TSS2_RC rc) {
  if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER) return 0;
  if (rc & TPM2_RC_FMT1) {
    TSS2_RC error = rc & 0x3f;
    int is_parameter = (rc & TPM2_RC_P) != 0;
    int number = (rc >> 8) & 0x7;
    return !is_parameter && number != 0 && (error == (TPM2_RC_HANDLE & 0x3f) || error == (TPM2_RC_VALUE & 0x3f));
  }
  return (rc & 0xfff) == TPM2_RC_REFERENCE_H0;
}

static void execute(napi_env env, void *data) {
  work_t *w = data;
  signer_t *s = w->s;
  pthread_mutex_lock(&s->lock);
  if (w->op == OP_CLOSE) {
    disconnect(s);
    pthread_mutex_unlock(&s->lock);
    return;
  }
  int was_open = s->esys != NULL;
  w->rc = sign_once(s, w);
  if (w->rc != TSS2_RC_SUCCESS && connection_failed(w->rc)) {
    disconnect(s);
    /* A kept connection can die under us (TPM restarted): one fresh attempt before giving up. */
    if (was_open) {
      w->rc = sign_once(s, w);
      if (w->rc != TSS2_RC_SUCCESS && connection_failed(w->rc)) disconnect(s);
    }
  }
  pthread_mutex_unlock(&s->lock);
}

/* ---- JS side ----------------------------------------------------------------------------------- */

#define CHECK(call)                                                 \
  do {                                                              \
    if ((call) != napi_ok) {                                        \
      napi_throw_error(env, NULL, "ward_tpm: Node-API call failed"); \
      return NULL;                                                  \
    }                                                               \
  } while (0)

static napi_value rejection(napi_env env, const work_t *w) {
  const char *code = "tpm-error";
  char message[320];
  if (w->rc == TSS2_RC_SUCCESS) {
    snprintf(message, sizeof message, "%s: the TPM returned a signature that is not ECDSA P-256", w->stage);
  } else {
    if (connection_failed(w->rc)) code = "tpm-unavailable";
    else if (handle_gone(w->rc)) code = "device-key-lost";
    /* Tss2_RC_Decode uses a static buffer: only ever called here, on the JS thread. */
    snprintf(message, sizeof message, "%s: %s (0x%x)", w->stage, Tss2_RC_Decode(w->rc), (unsigned)w->rc);
  }
  napi_value js_code, js_message, error, rc, stage;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &js_message);
  napi_create_error(env, js_code, js_message, &error);
  napi_create_uint32(env, w->rc, &rc);
  napi_set_named_property(env, error, "tpmRc", rc);
  napi_create_string_utf8(env, w->stage, NAPI_AUTO_LENGTH, &stage);
  napi_set_named_property(env, error, "stage", stage);
  return error;
}

static void complete(napi_env env, napi_status status, void *data) {
  work_t *w = data;
  if (w->op == OP_CLOSE) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, w->deferred, undefined);
  } else if (w->rc == TSS2_RC_SUCCESS && !w->bad_signature) {
    napi_value buffer;
    void *copy;
    napi_create_buffer_copy(env, sizeof w->sig, w->sig, &copy, &buffer);
    napi_resolve_deferred(env, w->deferred, buffer);
  } else {
    napi_reject_deferred(env, w->deferred, rejection(env, w));
  }
  napi_delete_reference(env, w->self);
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value queue_work(napi_env env, napi_value self, signer_t *s, work_t *w) {
  napi_value promise, name;
  w->s = s;
  w->stage = "";
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
      napi_create_reference(env, self, 1, &w->self) != napi_ok ||
      napi_create_string_utf8(env, "ward_tpm", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    free(w);
    napi_throw_error(env, NULL, "ward_tpm: could not queue the TPM call");
    return NULL;
  }
  return promise;
}

static signer_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self) {
  void *s = NULL;
  if (napi_get_cb_info(env, info, argc, argv, self, NULL) != napi_ok || napi_unwrap(env, *self, &s) != napi_ok) {
    napi_throw_type_error(env, NULL, "ward_tpm: not a TpmContext");
    return NULL;
  }
  return s;
}

static napi_value js_sign(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  signer_t *s = unwrap(env, info, &argc, argv, &self);
  if (!s) return NULL;
  uint32_t handle = 0;
  napi_valuetype type;
  bool is_typed_array = false;
  if (argc < 2 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_number ||
      napi_get_value_uint32(env, argv[0], &handle) != napi_ok || (handle >> 24) != TPM2_HT_PERSISTENT) {
    napi_throw_type_error(env, NULL, "sign(handle, digest): handle must be a persistent TPM handle (0x81xxxxxx)");
    return NULL;
  }
  napi_typedarray_type array_type;
  size_t length = 0;
  void *bytes = NULL;
  if (napi_is_typedarray(env, argv[1], &is_typed_array) != napi_ok || !is_typed_array ||
      napi_get_typedarray_info(env, argv[1], &array_type, &length, &bytes, NULL, NULL) != napi_ok ||
      array_type != napi_uint8_array || length != DIGEST_LEN) {
    napi_throw_type_error(env, NULL, "sign(handle, digest): digest must be a 32-byte Uint8Array (SHA-256)");
    return NULL;
  }
  work_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "ward_tpm: out of memory");
    return NULL;
  }
  w->op = OP_SIGN;
  w->handle = handle;
  memcpy(w->digest, bytes, DIGEST_LEN);
  return queue_work(env, self, s, w);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  signer_t *s = unwrap(env, info, &argc, NULL, &self);
  if (!s) return NULL;
  work_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "ward_tpm: out of memory");
    return NULL;
  }
  w->op = OP_CLOSE;
  return queue_work(env, self, s, w);
}

static napi_value js_opens(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self, result;
  signer_t *s = unwrap(env, info, &argc, NULL, &self);
  if (!s) return NULL;
  CHECK(napi_create_uint32(env, __atomic_load_n(&s->opens, __ATOMIC_RELAXED), &result));
  return result;
}

static void finalize(napi_env env, void *data, void *hint) {
  signer_t *s = data;
  /* In-flight work holds a strong reference, so nothing else uses s by now. */
  disconnect(s);
  pthread_mutex_destroy(&s->lock);
  free(s->conf);
  free(s);
}

static napi_value js_construct(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self, new_target;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  CHECK(napi_get_new_target(env, info, &new_target));
  if (new_target == NULL) {
    napi_throw_type_error(env, NULL, "TpmContext must be called with new");
    return NULL;
  }
  napi_valuetype conf_type = napi_undefined;
  if (argc >= 1) CHECK(napi_typeof(env, argv[0], &conf_type));
  char *conf = NULL;
  if (conf_type == napi_string) {
    size_t length = 0;
    CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &length));
    if (length == 0 || length > MAX_CONF_LEN) {
      napi_throw_type_error(env, NULL, "TpmContext(tcti): the TCTI string must be 1 to 1024 characters");
      return NULL;
    }
    conf = malloc(length + 1);
    if (!conf || napi_get_value_string_utf8(env, argv[0], conf, length + 1, &length) != napi_ok) {
      free(conf);
      napi_throw_error(env, NULL, "ward_tpm: out of memory");
      return NULL;
    }
  } else if (conf_type != napi_null && conf_type != napi_undefined) {
    napi_throw_type_error(env, NULL, "TpmContext(tcti): tcti must be a string, or null for the default TPM");
    return NULL;
  }
  int32_t timeout_ms = 10000;
  napi_valuetype timeout_type = napi_undefined;
  if (argc >= 2) CHECK(napi_typeof(env, argv[1], &timeout_type));
  if (timeout_type == napi_number) CHECK(napi_get_value_int32(env, argv[1], &timeout_ms));
  if (timeout_ms <= 0) timeout_ms = 10000;

  signer_t *s = calloc(1, sizeof *s);
  if (!s || pthread_mutex_init(&s->lock, NULL) != 0) {
    free(s);
    free(conf);
    napi_throw_error(env, NULL, "ward_tpm: out of memory");
    return NULL;
  }
  s->conf = conf;
  s->timeout_ms = timeout_ms;
  if (napi_wrap(env, self, s, finalize, NULL, NULL) != napi_ok) {
    finalize(env, s, NULL);
    napi_throw_error(env, NULL, "ward_tpm: could not wrap the context");
    return NULL;
  }
  return self;
}

static napi_value init(napi_env env, napi_value exports) {
  /* The TSS logs to stderr by default; Ward reports failures as typed errors instead. Set
   * TSS2_LOG yourself (e.g. all+error) to see the TSS's own messages. */
  setenv("TSS2_LOG", "all+NONE", 0);
  const napi_property_descriptor methods[] = {
      {"sign", NULL, js_sign, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"opens", NULL, NULL, js_opens, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value cls;
  CHECK(napi_define_class(env, "TpmContext", NAPI_AUTO_LENGTH, js_construct, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(napi_set_named_property(env, exports, "TpmContext", cls));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
