-- wrk: a signed 1 KiB WhatsApp message webhook (body and signature made
-- by bench/hooks.sh, in WRK_BODY_FILE and WRK_SIGNATURE).
local f = assert(io.open(os.getenv("WRK_BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Hub-Signature-256"] = os.getenv("WRK_SIGNATURE")
