-- The sieve of Eratosthenes up to 2,000,000, five times over a fresh array: the number of primes
-- and the largest.
local n = 2000000
local count = 0
local largest = 0
local round = 0
while round < 5 do
    local flags = {}
    local i = 1
    while i <= n do
        flags[i] = 1
        i = i + 1
    end
    count = 0
    local p = 2
    while p <= n do
        if flags[p] == 1 then
            count = count + 1
            largest = p
            local m = p * p
            while m <= n do
                flags[m] = 0
                m = m + p
            end
        end
        p = p + 1
    end
    round = round + 1
end
print(count)
print(largest)
