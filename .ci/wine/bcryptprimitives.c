/*
 * A stand-in for Windows' bcryptprimitives.dll with the one function Rust's std needs.
 *
 * Rust's std (>= 1.78) on Windows takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll. Wine added that DLL after 8.0 (the version Debian 12 ships), so
 * without this stub every Windows test binary dies before main under that wine
 * ("import_dll Library bcryptprimitives.dll ... not found", exit code 53). `.ci/cross`
 * builds it with mingw-w64 and puts it in the wine prefix's system32. It is used only to
 * run tests under wine; nothing ships it.
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's SystemFunction036), which
 * wine 8.0 has; RtlGenRandom takes a ULONG length, so large buffers go in chunks.
 */
#include <windows.h>

#define RtlGenRandom SystemFunction036
BOOLEAN NTAPI RtlGenRandom(PVOID RandomBuffer, ULONG RandomBufferLength);

BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData) {
    while (cbData > 0) {
        ULONG chunk = cbData > 0x10000000 ? 0x10000000 : (ULONG)cbData;
        if (!RtlGenRandom(pbData, chunk)) return FALSE;
        pbData += chunk;
        cbData -= chunk;
    }
    return TRUE;
}
