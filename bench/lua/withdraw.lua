-- POST /accounts/$ACCOUNT/withdrawals {"amount": 1}.
wrk.method = "POST"
wrk.path = "/accounts/" .. os.getenv("ACCOUNT") .. "/withdrawals"
wrk.body = '{"amount": 1}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
