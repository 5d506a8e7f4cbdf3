-- wrk script: durable overwrites of one key.
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value":"benchmark-value-0123456789abcdef0123"}'
