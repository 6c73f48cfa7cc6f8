-- POST /auth/tokens for one address past its limit: a 429 decided by the login limits alone,
-- before any password is checked (what a brute-force attack mostly gets).
wrk.method = "POST"
wrk.path = "/auth/tokens"
wrk.body = '{"email": "attacked@example.com", "password": "not the password"}'
wrk.headers["Content-Type"] = "application/json"
