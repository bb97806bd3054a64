-- Quicksort (recursive, Hoare's partition around the middle element) of 1,000,000 pseudo-random
-- ints pushed onto an array; then the array is popped empty, checking the order and summing a
-- checksum. Lua's arrays start at 1, so its indexes are one more than the others'.
local function sort(a, lo, hi)
    while lo < hi do
        local p = a[(lo + hi) // 2]
        local i = lo
        local j = hi
        while i <= j do
            while a[i] < p do
                i = i + 1
            end
            while a[j] > p do
                j = j - 1
            end
            if i <= j then
                local t = a[i]
                a[i] = a[j]
                a[j] = t
                i = i + 1
                j = j - 1
            end
        end
        sort(a, lo, j)
        lo = i
    end
end

local n = 1000000
local a = {}
local x = 1
local k = 0
while k < n do
    x = (x * 1103515245 + 12345) % 2147483648
    a[#a + 1] = x
    k = k + 1
end
sort(a, 1, #a)
print(a[1])
print(a[n // 2 + 1])
print(a[n])
local check = 0
local wrong = 0
local prev = a[#a]
while #a > 0 do
    local v = a[#a]
    a[#a] = nil
    if v > prev then
        wrong = wrong + 1
    end
    prev = v
    check = (check * 31 + v) % 1000000007
end
print(check)
print(wrong)
