// version.h — the one place the dlmscope version is written (traces record it; --version prints it).
#ifndef DLM_VERSION_H
#define DLM_VERSION_H

#define DLM_VERSION "0.1.0"

#endif
