# Quicksort (recursive, Hoare's partition around the middle element) of 1,000,000 pseudo-random
# ints pushed onto an array; then the array is popped empty, checking the order and summing a
# checksum.
def sort(a, lo, hi):
    while lo < hi:
        p = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < p:
                i += 1
            while a[j] > p:
                j -= 1
            if i <= j:
                t = a[i]
                a[i] = a[j]
                a[j] = t
                i += 1
                j -= 1
        sort(a, lo, j)
        lo = i


n = 1000000
a = []
x = 1
k = 0
while k < n:
    x = (x * 1103515245 + 12345) % 2147483648
    a.append(x)
    k += 1
sort(a, 0, len(a) - 1)
print(a[0])
print(a[n // 2])
print(a[n - 1])
check = 0
wrong = 0
prev = a[len(a) - 1]
while len(a) > 0:
    v = a.pop()
    if v > prev:
        wrong += 1
    prev = v
    check = (check * 31 + v) % 1000000007
print(check)
print(wrong)
