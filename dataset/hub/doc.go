// Package hub uploads LeRobot v3.0 datasets to the Hugging Face Hub.
//
// It speaks the Hub's HTTP protocol directly (the one huggingface_hub's
// upload_folder uses when hf_xet is not installed):
//
//  1. POST /api/repos/create                        (409: already there, fine)
//  2. POST /api/datasets/{repo}/branch/{branch}     (only for a branch other than main)
//  3. POST /api/datasets/{repo}/preupload/{rev}     which files go through LFS, and the
//     remote oid of each path so unchanged files are skipped
//  4. POST {endpoint}/datasets/{repo}.git/info/lfs/objects/batch, then a basic PUT or a
//     multipart PUT of every part plus the completion POST, then the verify POST
//  5. POST /api/datasets/{repo}/commit/{rev}        one NDJSON commit with the dataset
//     card (README.md), guarded by parentCommit
//  6. the v3.0 tag on that commit (LeRobot refuses a Hub dataset without it)
//
// Every file is hashed once, streamed; the hashes and the commit in flight
// are kept in a small resume journal so a restarted upload picks up where
// it stopped, and the commit is made exactly once: after an ambiguous
// failure the client asks the Hub whether its files already landed before
// it tries again. Requests are retried with exponential backoff on
// timeouts, dropped connections, 5xx and 429 (honouring Retry-After).
//
// The token comes from HF_TOKEN, then the token file huggingface_hub writes
// ($HF_TOKEN_PATH, else $HF_HOME/token, else ~/.cache/huggingface/token).
// It is held in a [Token], which never prints its value.
//
// [Queue] is the daemon's persistent background upload queue.
package hub
