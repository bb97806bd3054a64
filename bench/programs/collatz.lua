-- The longest Collatz chain starting below 300,000: prints its start and its length.
local best = 0
local best_len = 0
local n = 1
while n < 300000 do
    local x = n
    local len = 1
    while x ~= 1 do
        if x % 2 == 0 then
            x = x // 2
        else
            x = 3 * x + 1
        end
        len = len + 1
    end
    if len > best_len then
        best_len = len
        best = n
    end
    n = n + 1
end
print(best)
print(best_len)
