#ifndef EDGEGATE_CCRYPTO_SHIM_H
#define EDGEGATE_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* HMAC-SHA256 in one call, so Swift does not deal with OpenSSL's version-dependent types.
 * Returns the digest length (32), or 0 on failure. */
static inline unsigned int CCrypto_hmac_sha256(const void *key, int key_length,
                                               const unsigned char *data, size_t data_length,
                                               unsigned char out[32]) {
    unsigned int length = 0;
    if (HMAC(EVP_sha256(), key, key_length, data, data_length, out, &length) == NULL) return 0;
    return length;
}
#endif
